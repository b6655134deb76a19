// A small RMCP+ BMC for tests, because ipmi_sim has no cipher suite 17 (HMAC-SHA256), the
// default of modern BMCs. Built from our codecs, and proven against the real
// `ipmitool -I lanplus -C 17 / -C 3` before our driver is tested against it. It enforces
// privilege limits ipmi_sim does not, and records what it was asked to do.
import { randomBytes } from "node:crypto";
import { type Socket, createSocket } from "node:dgram";
import {
  type CipherSuite,
  constantTimeEqual,
  decryptPayload,
  deriveKeys,
  encryptPayload,
  integrityCode,
  suiteFor,
  userKey,
} from "../../../appliance/bmc/ipmi/cipher";
import { type IpmiRequest, decodeRequest, encodeResponse } from "../../../appliance/bmc/ipmi/message";
import { decodeOpenSessionRequest, encodeOpenSessionResponse } from "../../../appliance/bmc/ipmi/open-session";
import { type Exchange, decodeRakp1, decodeRakp3, encodeRakp2, encodeRakp4, rakp2Code, rakp3Code, rakp4Check } from "../../../appliance/bmc/ipmi/rakp";
import { AUTH_TYPE_NONE, decodeV15, encodeV15 } from "../../../appliance/bmc/ipmi/session-v15";
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
} from "../../../appliance/bmc/ipmi/session-v20";

export interface EmulatorUser {
  name: string;
  password: string;
  /** Highest privilege the account may run at: 2 user, 3 operator, 4 admin. */
  maxPrivilege: number;
}

export interface EmulatorState {
  power: boolean;
  bootFlags: Buffer;
  bootInProgress: boolean;
  identify: string | undefined;
  /** "netFn:cmd" of every in-session request, in order. */
  log: string[];
  sessionsOpened: number;
  sessionsClosed: number;
}

interface Pending {
  suite: CipherSuite;
  x: Exchange;
  password?: string;
  maxPrivilege: number;
}

interface Session {
  suite: CipherSuite;
  consoleSessionId: number;
  k1: Buffer;
  k2: Buffer;
  privilege: number;
  maxPrivilege: number;
  seqOut: number;
}

const GUID = Buffer.from("0123456789abcdef0123456789abcdef", "hex");
const SUITE_RECORDS: Record<number, number[]> = {
  0: [0xc0, 0, 0x00, 0x40, 0x80],
  3: [0xc0, 3, 0x01, 0x41, 0x81],
  17: [0xc0, 17, 0x03, 0x44, 0x81],
};

export class IpmiEmulator {
  readonly state: EmulatorState = {
    power: false,
    bootFlags: Buffer.alloc(5),
    bootInProgress: false,
    identify: undefined,
    log: [],
    sessionsOpened: 0,
    sessionsClosed: 0,
  };
  private socket: Socket = createSocket("udp4");
  private pending = new Map<number, Pending>();
  private sessions = new Map<number, Session>();
  private nextId = 0x1000;

  constructor(private readonly opts: { users: EmulatorUser[]; suites: number[] }) {}

  async start(port: number): Promise<void> {
    this.socket.on("message", (msg, rinfo) => {
      try {
        const out = this.handle(msg);
        if (out) this.socket.send(out, rinfo.port, rinfo.address);
      } catch {
        // Like a real BMC: a packet it cannot parse or authenticate gets no answer.
      }
    });
    await new Promise<void>((resolve) => this.socket.bind(port, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private handle(msg: Buffer): Buffer | undefined {
    if (!isV20(msg)) {
      const v = decodeV15(msg);
      const req = decodeRequest(v.payload);
      const [cc, data] = this.preSession(req);
      return encodeV15({ authType: AUTH_TYPE_NONE, seq: 0, sessionId: 0, payload: respond(req, cc, data) });
    }
    const p = decodeV20(msg);
    switch (p.payloadType) {
      case PAYLOAD_OPEN_SESSION_REQUEST:
        return this.open(p.payload);
      case PAYLOAD_RAKP1:
        return this.rakp1(p.payload);
      case PAYLOAD_RAKP3:
        return this.rakp3(p.payload);
      case PAYLOAD_IPMI:
        return this.inSession(p);
      default:
        return undefined;
    }
  }

  private preSession(req: IpmiRequest): [number, number[]] {
    if (req.netFn === 0x06 && req.cmd === 0x38) return [0, [0x01, 0x80 | 0x01, 0x04, 0x02, 0, 0, 0, 0]];
    if (req.netFn === 0x06 && req.cmd === 0x54) return [0, this.cipherPage(req.data[2]! & 0x3f)];
    return [0xd4, []];
  }

  private cipherPage(page: number): number[] {
    const all = this.opts.suites.flatMap((s) => SUITE_RECORDS[s] ?? []);
    return [0x01, ...all.slice(page * 16, page * 16 + 16)];
  }

  private open(payload: Buffer): Buffer {
    const r = decodeOpenSessionRequest(payload);
    const suite = suiteFor(r.auth, r.integrity, r.confidentiality);
    const reply = (status: number, bmcSessionId = 0) =>
      pre(
        PAYLOAD_OPEN_SESSION_RESPONSE,
        encodeOpenSessionResponse({
          tag: r.tag,
          status,
          maxPrivilege: r.maxPrivilege,
          consoleSessionId: r.consoleSessionId,
          bmcSessionId,
          auth: r.auth,
          integrity: r.integrity,
          confidentiality: r.confidentiality,
        }),
      );
    if (!suite || !this.opts.suites.includes(suite.id)) return reply(0x11);
    const id = this.nextId++;
    this.pending.set(id, {
      suite,
      maxPrivilege: r.maxPrivilege || 4,
      x: {
        suite,
        consoleSessionId: r.consoleSessionId,
        bmcSessionId: id,
        consoleRandom: Buffer.alloc(0),
        bmcRandom: randomBytes(16),
        bmcGuid: GUID,
        role: 0,
        user: Buffer.alloc(0),
      },
    });
    return reply(0, id);
  }

  private rakp1(payload: Buffer): Buffer | undefined {
    const m = decodeRakp1(payload);
    const p = this.pending.get(m.bmcSessionId);
    if (!p) return undefined;
    p.x.consoleRandom = m.consoleRandom;
    p.x.role = m.role;
    p.x.user = m.user;
    const user = this.opts.users.find((u) => u.name === m.user.toString("utf8"));
    const reply = (status: number, authCode: Buffer = Buffer.alloc(0)) =>
      pre(PAYLOAD_RAKP2, encodeRakp2({ tag: m.tag, status, consoleSessionId: p.x.consoleSessionId, bmcRandom: p.x.bmcRandom, bmcGuid: GUID, authCode }));
    if (!user) return reply(0x0d);
    if ((m.role & 0x0f) > user.maxPrivilege) return reply(0x0a);
    p.password = user.password;
    p.maxPrivilege = user.maxPrivilege;
    return reply(0, rakp2Code(p.x, userKey(user.password)));
  }

  private rakp3(payload: Buffer): Buffer | undefined {
    const m = decodeRakp3(payload);
    const p = this.pending.get(m.bmcSessionId);
    if (!p?.password) return undefined;
    this.pending.delete(m.bmcSessionId);
    const kuid = userKey(p.password);
    const reply = (status: number, check: Buffer = Buffer.alloc(0)) =>
      pre(PAYLOAD_RAKP4, encodeRakp4({ tag: m.tag, status, consoleSessionId: p.x.consoleSessionId, integrityCheck: check }));
    if (!constantTimeEqual(rakp3Code(p.x, kuid), m.authCode)) return reply(0x0f);
    const keys = deriveKeys(p.suite, kuid, p.x.consoleRandom, p.x.bmcRandom, p.x.role, p.x.user);
    this.sessions.set(p.x.bmcSessionId, {
      suite: p.suite,
      consoleSessionId: p.x.consoleSessionId,
      k1: keys.k1,
      k2: keys.k2,
      // Sessions start at user level (IPMI 2.0 §13.30) until Set Session Privilege Level.
      privilege: 2,
      maxPrivilege: Math.min(p.maxPrivilege, p.x.role & 0x0f || 4),
      seqOut: 0,
    });
    this.state.sessionsOpened++;
    return reply(0, rakp4Check(p.x, keys.sik));
  }

  private inSession(p: ReturnType<typeof decodeV20>): Buffer | undefined {
    const s = this.sessions.get(p.sessionId);
    if (!s || !p.authenticated || !p.encrypted) return undefined;
    if (!constantTimeEqual(integrityCode(s.suite, s.k1, p.signed), p.authCode)) return undefined;
    const req = decodeRequest(decryptPayload(s.k2, p.payload));
    this.state.log.push(`${req.netFn.toString(16)}:${req.cmd.toString(16)}`);
    const [cc, data] = this.command(s, p.sessionId, req);
    s.seqOut++;
    return encodeV20(
      {
        payloadType: PAYLOAD_IPMI,
        encrypted: true,
        authenticated: true,
        sessionId: s.consoleSessionId,
        seq: s.seqOut,
        payload: encryptPayload(s.k2, respond(req, cc, data)),
      },
      (signed) => integrityCode(s.suite, s.k1, signed),
    );
  }

  private command(s: Session, id: number, req: IpmiRequest): [number, number[]] {
    const st = this.state;
    const operator = s.privilege >= 3;
    const key = `${req.netFn}:${req.cmd}`;
    switch (key) {
      case "6:59": {
        const want = req.data[0] ?? 0;
        if (want === 0) return [0, [s.privilege]];
        if (want > s.maxPrivilege) return [0x81, []];
        s.privilege = want;
        return [0, [want]];
      }
      case "6:60":
        this.sessions.delete(id);
        st.sessionsClosed++;
        return [0, []];
      case "6:1":
        return [0, [0x20, 0x01, 0x02, 0x17, 0x02, 0xbf, 0xa2, 0x02, 0x00, 0x34, 0x12]];
      case "6:84":
        return [0, this.cipherPage(req.data[2]! & 0x3f)];
      case "0:1":
        return [0, [st.power ? 1 : 0, 0, st.identify ? 0x60 : 0x40, 0]];
      case "0:2": {
        if (!operator) return [0xd4, []];
        const c = req.data[0];
        if (c === 0) st.power = false;
        else if (c === 1 || c === 3) st.power = true;
        else if (c === 2) {
          if (!st.power) return [0xd5, []];
        } else if (c === 5) st.power = false;
        else return [0xcc, []];
        return [0, []];
      }
      case "0:4":
        if (!operator) return [0xd4, []];
        st.identify = `${req.data[0] ?? 15} ${req.data[1] ?? 0}`;
        return [0, []];
      case "0:8": {
        if (!operator) return [0xd4, []];
        const param = req.data[0]! & 0x7f;
        if (param === 0) {
          const v = req.data[1]! & 0x03;
          if (v === 1 && st.bootInProgress) return [0x81, []];
          st.bootInProgress = v === 1;
          return [0, []];
        }
        if (param === 4) return [0, []];
        if (param === 5) {
          st.bootFlags = Buffer.from(req.data.subarray(1, 6));
          return [0, []];
        }
        return [0x80, []];
      }
      case "0:9":
        if ((req.data[0]! & 0x7f) !== 5) return [0x80, []];
        return [0, [0x01, 0x05, ...st.bootFlags]];
      default:
        return [0xc1, []];
    }
  }
}

function respond(req: IpmiRequest, completionCode: number, data: number[]): Buffer {
  return encodeResponse({
    netFn: req.netFn + 1,
    cmd: req.cmd,
    seq: req.seq,
    completionCode,
    data: Buffer.from(data),
    rqAddr: req.rqAddr ?? 0x81,
    rsAddr: req.rsAddr ?? 0x20,
    rqLun: req.rqLun ?? 0,
    rsLun: req.rsLun ?? 0,
  });
}

function pre(payloadType: number, payload: Buffer): Buffer {
  return encodeV20({ payloadType, encrypted: false, authenticated: false, sessionId: 0, seq: 0, payload });
}
