// RMCP+/IPMI (appliance/bmc/ipmi), what a BMC (or anything answering on its address and port)
// sends back: the RMCP, IPMI 1.5 and RMCP+ session wrappers, Open Session and RAKP messages,
// the AES-CBC payload, the IPMI response and the command data the driver reads. Each returns a
// value or throws IpmiDecodeError (the session drops those as stray datagrams), and each with
// an encoder round-trips.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decryptPayload, encryptPayload } from "../../../appliance/bmc/ipmi/cipher";
import { parseChannelAuthCapabilities, parseCipherSuiteRecords, parseDeviceId } from "../../../appliance/bmc/ipmi/commands/app";
import { parseBootFlags, parseBootOptionResponse, parseChassisStatus } from "../../../appliance/bmc/ipmi/commands/chassis";
import { IpmiDecodeError } from "../../../appliance/bmc/ipmi/errors";
import { decodeResponse, encodeResponse, type IpmiResponse } from "../../../appliance/bmc/ipmi/message";
import { decodeOpenSessionResponse, encodeOpenSessionResponse, type OpenSessionResponse } from "../../../appliance/bmc/ipmi/open-session";
import { decodeRakp2, decodeRakp4, encodeRakp2, encodeRakp4, type Rakp2, type Rakp4 } from "../../../appliance/bmc/ipmi/rakp";
import { decodeAsfPong, decodeRmcpHeader } from "../../../appliance/bmc/ipmi/rmcp";
import { decodeV15, encodeV15, type V15Packet } from "../../../appliance/bmc/ipmi/session-v15";
import { decodeV20, encodeV20, isV20, PAYLOAD_OEM, type V20Packet } from "../../../appliance/bmc/ipmi/session-v20";
import { bytes, expectOnly, runs, TIMEOUT } from "./fuzz";

const buf = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength }).map((u) => Buffer.from(u));
const u8 = fc.nat(255);
const u32 = fc.nat(0xffffffff);
const AUTH_CODE = Buffer.alloc(12, 0xa5);

const v20: fc.Arbitrary<V20Packet> = fc
  .record({
    payloadType: fc.oneof(fc.constantFrom(0x00, 0x01, 0x11, 0x13, 0x15), fc.nat(0x3f)),
    encrypted: fc.boolean(),
    authenticated: fc.boolean(),
    sessionId: u32,
    seq: u32,
    payload: buf(0, 200),
    oem: fc.record({ iana: u32, payloadId: fc.nat(0xffff) }),
  })
  .map(({ oem, ...p }) => (p.payloadType === PAYLOAD_OEM ? { ...p, oem } : p));

const v15: fc.Arbitrary<V15Packet> = fc
  .record({ authType: fc.constantFrom(0, 1, 2, 4, 5), seq: u32, sessionId: u32, authCode: buf(16, 16), payload: buf(0, 255) })
  .map(({ authCode, ...p }) => (p.authType === 0 ? p : { ...p, authCode }));

const response: fc.Arbitrary<IpmiResponse> = fc.record({
  netFn: fc.nat(0x3f),
  cmd: u8,
  seq: fc.nat(0x3f),
  completionCode: u8,
  data: buf(0, 64),
  rqAddr: u8,
  rsAddr: u8,
  rqLun: fc.nat(3),
  rsLun: fc.nat(3),
});

const openSession: fc.Arbitrary<OpenSessionResponse> = fc.record({
  tag: u8,
  status: fc.constant(0),
  maxPrivilege: fc.nat(0x0f),
  consoleSessionId: u32,
  bmcSessionId: u32,
  auth: fc.nat(0x3f),
  integrity: fc.nat(0x3f),
  confidentiality: fc.nat(0x3f),
});
const rakp2: fc.Arbitrary<Rakp2> = fc.record({
  tag: u8,
  status: u8,
  consoleSessionId: u32,
  bmcRandom: buf(16, 16),
  bmcGuid: buf(16, 16),
  authCode: buf(0, 32),
});
const rakp4: fc.Arbitrary<Rakp4> = fc.record({ tag: u8, status: u8, consoleSessionId: u32, integrityCheck: buf(0, 32) });

const K2 = Buffer.alloc(20, 0x42);
/** A session wrapper, as the session layer receives it from the socket. */
const datagram = fc.oneof(
  v20.map((p) => encodeV20(p, AUTH_CODE)),
  v15.map(encodeV15),
  fc.constant(Buffer.from("0600ff06000011be8000000000000000000000000000000000000000", "hex")),
);
/** A payload: Open Session, RAKP, an encrypted or plain IPMI response. */
const payload = fc.oneof(
  openSession.map(encodeOpenSessionResponse),
  rakp2.map(encodeRakp2),
  rakp4.map(encodeRakp4),
  response.map(encodeResponse),
  response.map((r) => encryptPayload(K2, encodeResponse(r))),
);

const decoders: [string, (b: Buffer) => unknown][] = [
  ["RMCP header", decodeRmcpHeader],
  ["ASF pong", decodeAsfPong],
  ["IPMI 1.5 session", decodeV15],
  ["RMCP+ session", (b) => (isV20(b) ? decodeV20(b) : null)],
];
const payloadDecoders: [string, (b: Buffer) => unknown][] = [
  ["Open Session response", decodeOpenSessionResponse],
  ["RAKP2", decodeRakp2],
  ["RAKP4", decodeRakp4],
  ["IPMI response", decodeResponse],
  ["AES-CBC payload, then the response", (b) => decodeResponse(decryptPayload(K2, b))],
  ["Get Channel Auth Capabilities", parseChannelAuthCapabilities],
  ["Get Device ID", parseDeviceId],
  ["cipher suite records", parseCipherSuiteRecords],
  ["Get Chassis Status", parseChassisStatus],
  ["boot flags", parseBootFlags],
  ["Get System Boot Options", parseBootOptionResponse],
];

describe("IPMI decoders (fast-check)", () => {
  it(
    "any datagram: every session decoder returns a value or throws IpmiDecodeError",
    () => {
      fc.assert(
        fc.property(bytes(datagram, 400), (b) => {
          for (const [, d] of decoders) expectOnly(() => d(b), IpmiDecodeError);
        }),
        runs(2000),
      );
    },
    TIMEOUT,
  );

  it(
    "any payload: every payload and command decoder returns a value or throws IpmiDecodeError",
    () => {
      fc.assert(
        fc.property(bytes(payload, 300), (b) => {
          for (const [, d] of payloadDecoders) expectOnly(() => d(b), IpmiDecodeError);
        }),
        runs(2000),
      );
    },
    TIMEOUT,
  );

  it(
    "encoders round-trip: RMCP+ and IPMI 1.5 sessions, Open Session, RAKP2/4, responses, AES-CBC",
    () => {
      fc.assert(
        fc.property(v20, v15, openSession, rakp2, rakp4, response, (p, q, o, r2, r4, res) => {
          const d = decodeV20(encodeV20(p, AUTH_CODE));
          expect({ ...d, signed: undefined, authCode: undefined }).toEqual({ ...p, signed: undefined, authCode: undefined });
          if (p.authenticated) expect(d.authCode).toEqual(AUTH_CODE);
          expect(decodeV15(encodeV15(q))).toEqual(q);
          expect(decodeOpenSessionResponse(encodeOpenSessionResponse(o))).toEqual(o);
          expect(decodeRakp2(encodeRakp2(r2))).toEqual(r2);
          expect(decodeRakp4(encodeRakp4(r4))).toEqual(r4);
          expect(decodeResponse(encodeResponse(res))).toEqual(res);
          expect(decodeResponse(decryptPayload(K2, encryptPayload(K2, encodeResponse(res))))).toEqual(res);
        }),
        runs(400),
      );
    },
    TIMEOUT,
  );
});
