// Scripted DHCP client for the rig: runs inside a client namespace, sends raw packets and
// prints each reply as a JSON line. Replies are judged by the test, not here.
import dgram from "node:dgram";

const o = JSON.parse(process.argv[2] ?? "{}") as {
  bind?: string;
  port?: number;
  sends: { hex: string; to: string; port: number }[];
  expect: number;
  windowMs?: number;
};
const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
let got = 0;
const done = () => s.close(() => process.exit(0));
s.on("message", (m, r) => {
  process.stdout.write(`${JSON.stringify({ from: `${r.address}:${r.port}`, hex: m.toString("hex") })}\n`);
  if (++got >= o.expect && o.windowMs === undefined) done();
});
s.bind(o.port ?? 68, o.bind, async () => {
  s.setBroadcast(true);
  for (const p of o.sends) {
    await new Promise<void>((r, j) => s.send(Buffer.from(p.hex, "hex"), p.port, p.to, (e) => (e ? j(e) : r())));
  }
  // Without a window we wait for the expected replies, bounded so a silent server fails the test.
  setTimeout(done, o.windowMs ?? 15_000);
});
