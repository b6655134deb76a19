// The close codes the Durable Object echoes back: reserved ones (1005, 1006, 1015) must never
// be sent, or close() throws inside webSocketClose.
import { describe, expect, it } from "vitest";
import { isBenignTransportError, reciprocalCloseCode } from "../../../cloud/tunnel/close-codes";
import { ApplianceMessageSchema, parseFrame, RegionMessageSchema } from "../../../shared/tunnel/protocol";

describe("close codes and frames", () => {
  it("maps reserved and out-of-range codes to 1000 and keeps application codes", () => {
    for (const c of [1005, 1006, 1015, 0, 999, 1016, 2999, 5000]) expect(reciprocalCloseCode(c)).toBe(1000);
    for (const c of [1000, 1001, 1011, 4401, 4409]) expect(reciprocalCloseCode(c)).toBe(c);
    expect(isBenignTransportError(new Error("WebSocket already closed"))).toBe(true);
    expect(isBenignTransportError(new Error("boom"))).toBe(false);
  });

  it("parses frames without throwing, whatever arrives", () => {
    for (const raw of ["", "{", "null", "[]", '{"t":"hello"}', '{"t":"welcome","v":2}', "x".repeat(5 * 1024 * 1024), new Uint8Array([1, 2])]) {
      expect(parseFrame(ApplianceMessageSchema, raw).ok).toBe(false);
      expect(parseFrame(RegionMessageSchema, raw).ok).toBe(false);
    }
    const ok = parseFrame(RegionMessageSchema, JSON.stringify({ t: "ack", v: 1, upTo: 3 }));
    expect(ok).toEqual({ ok: true, msg: { t: "ack", v: 1, upTo: 3 } });
  });
});
