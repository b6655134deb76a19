// An RMCP+ session with one BMC: capabilities, cipher suite choice, Open Session, RAKP 1–4,
// privilege, then authenticated and encrypted commands with sequence numbers, a replay
// window, retransmission, keep-alive and Close Session. Failures surface as PowerError.
import { randomBytes } from "node:crypto";
import { PowerError } from "../driver";
import {
  type CipherSuite,
  SUITES,
  constantTimeEqual,
  decryptPayload,
  deriveKeys,
  encryptPayload,
  integrityCode,
  userKey,
} from "./cipher";
import {
  CMD_CLOSE_SESSION,
  CMD_GET_CHANNEL_AUTH_CAPABILITIES,
  CMD_GET_CHANNEL_CIPHER_SUITES,
  CMD_GET_DEVICE_ID,
  CMD_SET_SESSION_PRIVILEGE,
  NETFN_APP,
  PRIVILEGES,
  type Privilege,
  channelAuthCapabilitiesRequest,
  channelCipherSuitesRequest,
  closeSessionRequest,
  parseChannelAuthCapabilities,
  parseCipherSuiteRecords,
} from "./commands/app";
import { COMPLETION_CODES, IpmiDecodeError, RMCP_PLUS_STATUS, TRANSIENT_COMPLETION_CODES } from "./errors";
import { type IpmiResponse, decodeResponse, encodeRequest } from "./message";
import { decodeOpenSessionResponse, encodeOpenSessionRequest } from "./open-session";
import { type Exchange, NAME_ONLY_LOOKUP, decodeRakp2, decodeRakp4, encodeRakp1, encodeRakp3, rakp2Code, rakp3Code, rakp4Check } from "./rakp";
import { AUTH_TYPE_NONE, decodeV15, encodeV15 } from "./session-v15";
import {
  PAYLOAD_IPMI,
  PAYLOAD_OPEN_SESSION_REQUEST,
  PAYLOAD_OPEN_SESSION_RESPONSE,
  PAYLOAD_RAKP1,
  PAYLOAD_RAKP2,
  PAYLOAD_RAKP3,
  PAYLOAD_RAKP4,
  decodeV20,
  encodeV20,
  isV20,
} from "./session-v20";
import { NoResponseError, type Retry, UdpTransport } from "./transport";

export interface SessionOptions {
  host: string;
  port?: number;
  user: string;
  password: string;
  /** Privilege the session runs at; power control needs operator. Default admin. */
  privilege?: Privilege;
  /** Suites we may use, best first. Default [17, 3]. */
  cipherSuites?: (3 | 17)[];
  /** BMC key (Kg) when the BMC has one set; otherwise the password key is used. */
  kg?: Buffer;
  /** Per-attempt timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** Retransmissions after the first attempt. Default 2. */
  retries?: number;
}

/** Open Session status codes meaning "not this algorithm": try the next suite. */
const ALGORITHM_REFUSED = new Set([0x04, 0x05, 0x06, 0x07, 0x10, 0x11]);
const REPLAY_WINDOW = 16;

function fatal(code: string, message: string): PowerError {
  return new PowerError("fatal", code, message);
}

export function toPowerError(e: unknown, where: string): PowerError {
  if (e instanceof PowerError) return e;
  if (e instanceof NoResponseError) {
    return new PowerError("transient", e.reason === "timeout" ? "no_response" : "connection", `${e.message}`);
  }
  if (e instanceof IpmiDecodeError) return new PowerError("transient", "protocol", `${where}: ${e.message}`);
  return new PowerError("transient", "internal", `${where}: ${(e as Error).message ?? String(e)}`);
}

export function completionError(cc: number, what: string, where: string): PowerError {
  const text = COMPLETION_CODES[cc] ?? `completion code 0x${cc.toString(16)}`;
  const msg = `${where}: ${what} failed: ${text}`;
  if (cc === 0xd4) return fatal("insufficient_privilege", `${msg}; the BMC user needs a higher privilege`);
  if (cc === 0xc1) return fatal("unsupported", msg);
  return new PowerError(TRANSIENT_COMPLETION_CODES.has(cc) ? "transient" : "fatal", `completion_0x${cc.toString(16)}`, msg);
}

export class IpmiSession {
  readonly suite: CipherSuite;
  private seqOut = 0;
  private rqSeq = 0;
  private highestIn = 0;
  private seenIn = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private keepAlive: NodeJS.Timeout | undefined;
  private lastUsed = Date.now();
  private dead = false;

  /** Use IpmiSession.open(); this takes an already-authenticated exchange. */
  constructor(
    private transport: UdpTransport,
    private retry: Retry,
    private x: Exchange,
    private k1: Buffer,
    private k2: Buffer,
  ) {
    this.suite = x.suite;
  }

  get alive(): boolean {
    return !this.dead;
  }

  get bmcSessionId(): number {
    return this.x.bmcSessionId;
  }

  static async open(opts: SessionOptions): Promise<IpmiSession> {
    const transport = new UdpTransport(opts.host, opts.port ?? 623);
    const retry = { timeoutMs: opts.timeoutMs ?? 1000, retries: opts.retries ?? 2 };
    try {
      return await establish(transport, retry, opts);
    } catch (e) {
      transport.close();
      throw toPowerError(e, transport.where());
    }
  }

  /** Sends one command in the session; resolves with the response, whatever its completion code. */
  command(netFn: number, cmd: number, data: Buffer = Buffer.alloc(0)): Promise<IpmiResponse> {
    const run = this.queue.then(() => this.send(netFn, cmd, data));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Like command(), but a non-zero completion code becomes a PowerError. */
  async call(netFn: number, cmd: number, data: Buffer, what: string): Promise<Buffer> {
    const r = await this.command(netFn, cmd, data);
    if (r.completionCode !== 0) throw completionError(r.completionCode, what, this.transport.where());
    return r.data;
  }

  private async send(netFn: number, cmd: number, data: Buffer): Promise<IpmiResponse> {
    if (this.dead) throw new PowerError("transient", "session_closed", `${this.transport.where()}: session is closed`);
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    const rqSeq = this.rqSeq;
    const message = encodeRequest({ netFn, cmd, seq: rqSeq, data });
    try {
      const r = await this.transport.exchange(
        () => this.wrap(message),
        (msg) => this.unwrap(msg, netFn, cmd, rqSeq),
        this.retry,
      );
      this.lastUsed = Date.now();
      return r;
    } catch (e) {
      // A session that stopped answering is not trusted again: the driver opens a new one.
      this.dead = true;
      throw toPowerError(e, this.transport.where());
    }
  }

  private wrap(message: Buffer): Buffer {
    // Sequence numbers start at 1 and skip 0 on wrap (0 means "outside a session").
    this.seqOut = (this.seqOut + 1) >>> 0 || 1;
    return encodeV20(
      {
        payloadType: PAYLOAD_IPMI,
        encrypted: true,
        authenticated: true,
        sessionId: this.x.bmcSessionId,
        seq: this.seqOut,
        payload: encryptPayload(this.k2, message),
      },
      (signed) => integrityCode(this.suite, this.k1, signed),
    );
  }

  private unwrap(msg: Buffer, netFn: number, cmd: number, rqSeq: number): IpmiResponse | undefined {
    if (!isV20(msg)) return undefined;
    const p = decodeV20(msg);
    if (p.sessionId !== this.x.consoleSessionId || p.payloadType !== PAYLOAD_IPMI) return undefined;
    if (!p.authenticated || !p.encrypted) throw new IpmiDecodeError("BMC reply lacks integrity or confidentiality");
    if (!constantTimeEqual(integrityCode(this.suite, this.k1, p.signed), p.authCode)) {
      throw new IpmiDecodeError("integrity check failed");
    }
    if (!this.acceptSeq(p.seq)) return undefined;
    const r = decodeResponse(decryptPayload(this.k2, p.payload));
    if (r.netFn !== netFn + 1 || r.cmd !== cmd || r.seq !== rqSeq) return undefined;
    return r;
  }

  /** Sliding replay window over the BMC's sequence numbers: newer, or recent and unseen. */
  private acceptSeq(seq: number): boolean {
    if (seq === 0) return false;
    if (seq > this.highestIn) {
      const shift = seq - this.highestIn;
      this.seenIn = shift >= 32 ? 1 : ((this.seenIn << shift) | 1) >>> 0;
      this.highestIn = seq;
      return true;
    }
    const back = this.highestIn - seq;
    if (back >= REPLAY_WINDOW) return false;
    const bit = 1 << back;
    if (this.seenIn & bit) return false;
    this.seenIn = (this.seenIn | bit) >>> 0;
    return true;
  }

  /** Keeps an idle session from timing out on the BMC: Get Device ID when nothing else was sent. */
  startKeepAlive(intervalMs: number): void {
    this.stopKeepAlive();
    if (intervalMs <= 0) return;
    this.keepAlive = setInterval(() => {
      if (this.dead || Date.now() - this.lastUsed < intervalMs) return;
      this.command(NETFN_APP, CMD_GET_DEVICE_ID).catch(() => undefined);
    }, intervalMs);
    this.keepAlive.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  /** Close Session, best effort: a BMC that is gone will drop the session on its own timeout. */
  async close(): Promise<void> {
    this.stopKeepAlive();
    if (!this.dead) {
      const saved = this.retry;
      this.retry = { timeoutMs: Math.min(saved.timeoutMs, 500), retries: 0 };
      await this.command(NETFN_APP, CMD_CLOSE_SESSION, closeSessionRequest(this.x.bmcSessionId)).catch(() => undefined);
      this.retry = saved;
    }
    this.dead = true;
    this.transport.close();
  }
}

async function establish(t: UdpTransport, retry: Retry, opts: SessionOptions): Promise<IpmiSession> {
  const where = t.where();
  const privilege = PRIVILEGES[opts.privilege ?? "admin"];
  const caps = await preSession(t, retry, NETFN_APP, CMD_GET_CHANNEL_AUTH_CAPABILITIES, channelAuthCapabilitiesRequest(privilege));
  if (caps.completionCode !== 0) throw completionError(caps.completionCode, "Get Channel Auth Capabilities", where);
  if (!parseChannelAuthCapabilities(caps.data).ipmi20) {
    throw fatal("unsupported", `${where} does not offer IPMI 2.0 (RMCP+); IPMI 1.5 is not supported`);
  }
  const wanted = opts.cipherSuites ?? [17, 3];
  const offered = await offeredSuites(t, retry);
  const candidates = wanted.filter((id) => !offered || offered.has(id)).map((id) => SUITES[id]);
  if (candidates.length === 0) {
    throw fatal(
      "unsupported_cipher",
      `${where} offers cipher suites ${[...(offered ?? [])].join(", ")}, none of ${wanted.join(", ")} (Plinth uses 17 or 3, never 0)`,
    );
  }
  const user = Buffer.from(opts.user, "utf8");
  if (user.length > 16) throw fatal("bad_settings", "IPMI user names are at most 16 bytes");
  const kuid = userKey(opts.password);
  const consoleSessionId = randomBytes(4).readUInt32LE() || 1;
  let tag = 0;
  let lastRefusal = 0;
  for (const suite of candidates) {
    tag = (tag + 1) & 0xff;
    const openTag = tag;
    const open = await t.exchange(
      () =>
        v20(
          PAYLOAD_OPEN_SESSION_REQUEST,
          encodeOpenSessionRequest({
            tag: openTag,
            maxPrivilege: privilege,
            consoleSessionId,
            auth: suite.auth,
            integrity: suite.integrity,
            confidentiality: suite.confidentiality,
          }),
        ),
      (msg) => {
        const p = preSessionPayload(msg, PAYLOAD_OPEN_SESSION_RESPONSE);
        if (!p) return undefined;
        const r = decodeOpenSessionResponse(p);
        return r.tag === openTag ? r : undefined;
      },
      retry,
    );
    if (open.status !== 0) {
      if (ALGORITHM_REFUSED.has(open.status)) {
        lastRefusal = open.status;
        continue;
      }
      throw rmcpStatusError(open.status, "Open Session", where);
    }
    if (open.auth !== suite.auth || open.integrity !== suite.integrity || open.confidentiality !== suite.confidentiality) {
      throw fatal("unsupported_cipher", `${where} answered Open Session with different algorithms than proposed`);
    }
    const x: Exchange = {
      suite,
      consoleSessionId,
      bmcSessionId: open.bmcSessionId,
      consoleRandom: randomBytes(16),
      bmcRandom: Buffer.alloc(0),
      bmcGuid: Buffer.alloc(0),
      role: privilege | NAME_ONLY_LOOKUP,
      user,
    };
    tag = (tag + 1) & 0xff;
    const r1Tag = tag;
    const rakp1 = v20(
      PAYLOAD_RAKP1,
      encodeRakp1({ tag: r1Tag, bmcSessionId: x.bmcSessionId, consoleRandom: x.consoleRandom, role: x.role, user }),
    );
    const rakp2 = await t.exchange(
      () => rakp1,
      (msg) => {
        const p = preSessionPayload(msg, PAYLOAD_RAKP2);
        if (!p) return undefined;
        const r = decodeRakp2(p);
        return r.tag === r1Tag && r.consoleSessionId === consoleSessionId ? r : undefined;
      },
      retry,
    );
    if (rakp2.status !== 0) throw rmcpStatusError(rakp2.status, "RAKP", where, opts.user);
    x.bmcRandom = rakp2.bmcRandom;
    x.bmcGuid = rakp2.bmcGuid;
    if (!constantTimeEqual(rakp2Code(x, kuid), rakp2.authCode)) {
      throw fatal("bad_password", `${where} rejected the password for user "${opts.user}"`);
    }
    const keys = deriveKeys(suite, opts.kg ?? kuid, x.consoleRandom, x.bmcRandom, x.role, user);
    tag = (tag + 1) & 0xff;
    const r3Tag = tag;
    const rakp3 = v20(PAYLOAD_RAKP3, encodeRakp3({ tag: r3Tag, status: 0, bmcSessionId: x.bmcSessionId, authCode: rakp3Code(x, kuid) }));
    const rakp4 = await t.exchange(
      () => rakp3,
      (msg) => {
        const p = preSessionPayload(msg, PAYLOAD_RAKP4);
        if (!p) return undefined;
        const r = decodeRakp4(p);
        return r.tag === r3Tag && r.consoleSessionId === consoleSessionId ? r : undefined;
      },
      retry,
    );
    if (rakp4.status !== 0) throw rmcpStatusError(rakp4.status, "RAKP", where, opts.user);
    if (!constantTimeEqual(rakp4Check(x, keys.sik), rakp4.integrityCheck)) {
      throw fatal("bad_password", `${where}: RAKP4 integrity check failed (wrong password or BMC key)`);
    }
    const session = new IpmiSession(t, retry, x, keys.k1, keys.k2);
    const priv = await session.command(NETFN_APP, CMD_SET_SESSION_PRIVILEGE, Buffer.from([privilege]));
    if (priv.completionCode !== 0) {
      await session.close();
      if ([0x80, 0x81, 0xd4].includes(priv.completionCode)) {
        throw fatal("insufficient_privilege", `${where}: user "${opts.user}" may not run at ${opts.privilege ?? "admin"} privilege`);
      }
      throw completionError(priv.completionCode, "Set Session Privilege Level", where);
    }
    return session;
  }
  throw fatal(
    "unsupported_cipher",
    `${where} refused cipher suites ${candidates.map((s) => s.id).join(", ")} (${RMCP_PLUS_STATUS[lastRefusal] ?? lastRefusal})`,
  );
}

function rmcpStatusError(status: number, step: string, where: string, user?: string): PowerError {
  const text = RMCP_PLUS_STATUS[status] ?? `status 0x${status.toString(16)}`;
  if (status === 0x0d || status === 0x0c) return fatal("unknown_user", `${where}: ${step}: no such user "${user}" (${text})`);
  if (status === 0x09 || status === 0x0a) return fatal("insufficient_privilege", `${where}: ${step}: ${text}`);
  if (status === 0x0f) return fatal("bad_password", `${where}: ${step}: ${text} (wrong password or BMC key)`);
  if (ALGORITHM_REFUSED.has(status)) return fatal("unsupported_cipher", `${where}: ${step}: ${text}`);
  if (status === 0x01 || status === 0x0b) return new PowerError("transient", "bmc_busy", `${where}: ${step}: ${text}`);
  return new PowerError("transient", "protocol", `${where}: ${step}: ${text}`);
}

function v20(payloadType: number, payload: Buffer): Buffer {
  return encodeV20({ payloadType, encrypted: false, authenticated: false, sessionId: 0, seq: 0, payload });
}

function preSessionPayload(msg: Buffer, payloadType: number): Buffer | undefined {
  if (!isV20(msg)) return undefined;
  const p = decodeV20(msg);
  return p.payloadType === payloadType ? p.payload : undefined;
}

let preSeq = 0;

/** A session-less IPMI 1.5 request (auth type none), as allowed for capability discovery. */
async function preSession(t: UdpTransport, retry: Retry, netFn: number, cmd: number, data: Buffer): Promise<IpmiResponse> {
  preSeq = (preSeq + 1) & 0x3f;
  const seq = preSeq;
  const packet = encodeV15({ authType: AUTH_TYPE_NONE, seq: 0, sessionId: 0, payload: encodeRequest({ netFn, cmd, seq, data }) });
  return t.exchange(
    () => packet,
    (msg) => {
      if (isV20(msg)) return undefined;
      const r = decodeResponse(decodeV15(msg).payload);
      return r.netFn === netFn + 1 && r.cmd === cmd && r.seq === seq ? r : undefined;
    },
    retry,
  );
}

/**
 * The suites the BMC lists (Get Channel Cipher Suites, session-less), or undefined when it
 * will not say: then each wanted suite is proposed in turn and refusals move to the next.
 */
async function offeredSuites(t: UdpTransport, retry: Retry): Promise<Set<number> | undefined> {
  const bytes: Buffer[] = [];
  try {
    for (let page = 0; page < 4; page++) {
      const r = await preSession(t, { timeoutMs: retry.timeoutMs, retries: 0 }, NETFN_APP, CMD_GET_CHANNEL_CIPHER_SUITES, channelCipherSuitesRequest(page));
      if (r.completionCode !== 0 || r.data.length < 1) return undefined;
      bytes.push(r.data.subarray(1));
      if (r.data.length < 17) break;
    }
    return new Set(parseCipherSuiteRecords(Buffer.concat(bytes)).map((s) => s.id));
  } catch (e) {
    if (e instanceof NoResponseError && e.reason !== "timeout") throw e;
    return undefined;
  }
}
