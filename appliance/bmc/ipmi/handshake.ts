// The RMCP+ handshake with one BMC, before any session exists: channel capabilities (IPMI 1.5,
// session-less), the cipher suite choice, Open Session, then RAKP 1–4, which prove both sides
// know the password and yield the session keys. What it returns is all an IpmiSession needs.
import { randomBytes } from "node:crypto";
import { PowerError } from "../driver";
import { SUITES, constantTimeEqual, deriveKeys, userKey } from "./cipher";
import {
  CMD_GET_CHANNEL_AUTH_CAPABILITIES,
  CMD_GET_CHANNEL_CIPHER_SUITES,
  NETFN_APP,
  PRIVILEGES,
  type Privilege,
  channelAuthCapabilitiesRequest,
  channelCipherSuitesRequest,
  parseChannelAuthCapabilities,
  parseCipherSuiteRecords,
} from "./commands/app";
import { RMCP_PLUS_STATUS } from "./errors";
import { completionError, fatal } from "./failures";
import { type IpmiResponse, decodeResponse, encodeRequest } from "./message";
import { decodeOpenSessionResponse, encodeOpenSessionRequest } from "./open-session";
import { type Exchange, NAME_ONLY_LOOKUP, decodeRakp2, decodeRakp4, encodeRakp1, encodeRakp3, rakp2Code, rakp3Code, rakp4Check } from "./rakp";
import { AUTH_TYPE_NONE, decodeV15, encodeV15 } from "./session-v15";
import {
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
import { NoResponseError, type Retry, type UdpTransport } from "./transport";

export interface HandshakeOptions {
  user: string;
  password: string;
  /** Privilege the session runs at; power control needs operator. Default admin. */
  privilege?: Privilege;
  /** Suites we may use, best first. Default [17, 3]. */
  cipherSuites?: (3 | 17)[];
  /** BMC key (Kg) when the BMC has one set; otherwise the password key is used. */
  kg?: Buffer;
}

/** An authenticated exchange and its keys: K1 signs packets, K2 encrypts them. */
export interface Handshake {
  x: Exchange;
  k1: Buffer;
  k2: Buffer;
}

/** Open Session status codes meaning "not this algorithm": try the next suite. */
const ALGORITHM_REFUSED = new Set([0x04, 0x05, 0x06, 0x07, 0x10, 0x11]);

export async function handshake(t: UdpTransport, retry: Retry, opts: HandshakeOptions): Promise<Handshake> {
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
  const nextTag = () => {
    tag = (tag + 1) & 0xff;
    return tag;
  };
  let lastRefusal = 0;
  for (const suite of candidates) {
    const openTag = nextTag();
    const open = await reply(
      t,
      retry,
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
      PAYLOAD_OPEN_SESSION_RESPONSE,
      decodeOpenSessionResponse,
      (r) => r.tag === openTag,
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
    return rakp(
      t,
      retry,
      opts,
      nextTag,
      {
        suite,
        consoleSessionId,
        bmcSessionId: open.bmcSessionId,
        consoleRandom: randomBytes(16),
        bmcRandom: Buffer.alloc(0),
        bmcGuid: Buffer.alloc(0),
        role: privilege | NAME_ONLY_LOOKUP,
        user,
      },
      kuid,
    );
  }
  throw fatal(
    "unsupported_cipher",
    `${where} refused cipher suites ${candidates.map((s) => s.id).join(", ")} (${RMCP_PLUS_STATUS[lastRefusal] ?? lastRefusal})`,
  );
}

/** RAKP 1–4 on an opened session: the BMC proves it knows the password, then the console does. */
async function rakp(t: UdpTransport, retry: Retry, opts: HandshakeOptions, nextTag: () => number, x: Exchange, kuid: Buffer): Promise<Handshake> {
  const where = t.where();
  const ours = (r: { tag: number; consoleSessionId: number }, tag: number) => r.tag === tag && r.consoleSessionId === x.consoleSessionId;
  const r1Tag = nextTag();
  const rakp1 = v20(PAYLOAD_RAKP1, encodeRakp1({ tag: r1Tag, bmcSessionId: x.bmcSessionId, consoleRandom: x.consoleRandom, role: x.role, user: x.user }));
  const rakp2 = await reply(t, retry, rakp1, PAYLOAD_RAKP2, decodeRakp2, (r) => ours(r, r1Tag));
  if (rakp2.status !== 0) throw rmcpStatusError(rakp2.status, "RAKP", where, opts.user);
  x.bmcRandom = rakp2.bmcRandom;
  x.bmcGuid = rakp2.bmcGuid;
  if (!constantTimeEqual(rakp2Code(x, kuid), rakp2.authCode)) {
    throw fatal("bad_password", `${where} rejected the password for user "${opts.user}"`);
  }
  const keys = deriveKeys(x.suite, opts.kg ?? kuid, x.consoleRandom, x.bmcRandom, x.role, x.user);
  const r3Tag = nextTag();
  const rakp3 = v20(PAYLOAD_RAKP3, encodeRakp3({ tag: r3Tag, status: 0, bmcSessionId: x.bmcSessionId, authCode: rakp3Code(x, kuid) }));
  const rakp4 = await reply(t, retry, rakp3, PAYLOAD_RAKP4, decodeRakp4, (r) => ours(r, r3Tag));
  if (rakp4.status !== 0) throw rmcpStatusError(rakp4.status, "RAKP", where, opts.user);
  if (!constantTimeEqual(rakp4Check(x, keys.sik), rakp4.integrityCheck)) {
    throw fatal("bad_password", `${where}: RAKP4 integrity check failed (wrong password or BMC key)`);
  }
  return { x, k1: keys.k1, k2: keys.k2 };
}

/** Sends a pre-session RMCP+ message until the BMC answers it: the reply of `type` that `ours` claims. */
function reply<R>(t: UdpTransport, retry: Retry, request: Buffer, type: number, decode: (p: Buffer) => R, ours: (r: R) => boolean): Promise<R> {
  return t.exchange(
    () => request,
    (msg) => {
      const p = preSessionPayload(msg, type);
      if (!p) return undefined;
      const r = decode(p);
      return ours(r) ? r : undefined;
    },
    retry,
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
