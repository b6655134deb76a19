// The live stream (SSE) that the dashboard and `plinth --wait` follow.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, call, makeMachine, makeUser } from "./helpers";

/** Reads SSE frames until one matches, bounded by a frame count (the test timeout bounds time). */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, match: (frame: string) => boolean, maxFrames = 200): Promise<string> {
  const dec = new TextDecoder();
  let buf = "";
  for (let frames = 0; frames < maxFrames; ) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before a matching frame; got: ${buf}`);
    buf += dec.decode(value, { stream: true });
    let i = buf.indexOf("\n\n");
    while (i >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      frames++;
      if (match(frame)) return frame;
      i = buf.indexOf("\n\n");
    }
  }
  throw new Error("no matching frame");
}

describe("GET /stream", () => {
  it("needs a caller", async () => {
    expect((await call(null, "GET", "/stream")).status).toBe(401);
  });

  it("sends new events of the caller's sites, with ids to resume from", async () => {
    const key = await makeUser("streamer", [["admin", null]]);
    const hands = await makeUser("hands-a", [["remote-hands", "site-a"]]);
    const other = await makeMachine({ status: 4, site: "site-b" });
    const mine = await makeMachine({ status: 4, site: "site-a" });
    const open = async (k: string, headers: Record<string, string> = {}) => {
      const r = await SELF.fetch(`${BASE}/stream`, { headers: { authorization: `Bearer ${k}`, ...headers } });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/event-stream/);
      return r.body!.getReader();
    };
    const admin = await open(key);
    const hello = await readUntil(admin, (f) => f.includes("event: hello"));
    expect(hello).toContain("retry: 2000");
    const handsStream = await open(hands);
    await readUntil(handsStream, (f) => f.includes("event: hello"));

    expect((await call(key, "POST", `/machines/${other}/mark_broken`, { comment: "psu" })).status).toBe(200);
    expect((await call(key, "POST", `/machines/${mine}/mark_broken`, { comment: "fan" })).status).toBe(200);
    const seen = await readUntil(admin, (f) => f.includes(mine));
    const data = JSON.parse(/^data: (.*)$/m.exec(seen)![1]!);
    expect(data.type).toBe("machine.mark_broken");
    expect(data.to_status).toBe(8);
    const id = Number(/^id: (\d+)$/m.exec(seen)![1]);

    // remote-hands of site-a sees its machine's event, never site-b's.
    const handsFrame = await readUntil(handsStream, (f) => f.includes("event: event"));
    expect(handsFrame).toContain(mine);
    expect(handsFrame).not.toContain(other);
    await admin.cancel();
    await handsStream.cancel();

    // A reconnect with Last-Event-ID replays what came after it.
    expect((await call(key, "POST", `/machines/${mine}/mark_fixed`, {})).status).toBe(200);
    const resumed = await open(key, { "last-event-id": String(id) });
    const replay = await readUntil(resumed, (f) => f.includes("event: event"));
    expect(replay).toContain("machine.mark_fixed");
    await resumed.cancel();
  });
});
