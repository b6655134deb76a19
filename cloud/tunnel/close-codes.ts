// Close codes a peer reports but that may not be sent back: 1005 (no status) and 1006
// (abnormal) are reserved, and echoing them makes close() throw (see the rigs notes).
export function reciprocalCloseCode(code: number): number {
  if (code === 1005 || code === 1006 || code === 1015) return 1000;
  if (code < 1000 || code > 4999 || (code >= 1016 && code < 3000)) return 1000;
  return code;
}

/** Errors met while closing or sending on a socket that is already going away: not worth a log line. */
export function isBenignTransportError(e: unknown): boolean {
  const msg = String((e as Error)?.message ?? e);
  return /WebSocket (is )?(already )?clos|Can't call WebSocket send|Network connection lost|readyState|disconnected/i.test(msg);
}

export function safeClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(reciprocalCloseCode(code), reason.slice(0, 120));
  } catch (e) {
    if (!isBenignTransportError(e)) console.error("rack tunnel: close failed", e);
  }
}

export function safeSend(ws: WebSocket, frame: string): boolean {
  try {
    ws.send(frame);
    return true;
  } catch (e) {
    if (!isBenignTransportError(e)) console.error("rack tunnel: send failed", e);
    return false;
  }
}
