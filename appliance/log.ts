// The appliance's one logger: a JSON object per line, which journald, log shippers and the
// tests all read without a parser of ours. A function, so a test or an adapter is one lambda.
export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;
export type Logger = (level: Level, msg: string, fields?: Fields) => void;

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLevel(s: string): s is Level {
  return Object.hasOwn(ORDER, s);
}

/** `out` defaults to stdout (the daemon's journal); the standalone DHCP server passes stderr. */
export function jsonLogger(min: Level = "info", out: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return (level, msg, fields) => {
    if (ORDER[level] < ORDER[min]) return;
    out(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
  };
}

export const silentLogger: Logger = () => {};
