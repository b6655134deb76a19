// Scripted DHCP client for the rig: a long-lived process inside a client namespace (starting
// node under load costs seconds). Each stdin line is a command {id, sends, expect, windowMs};
// it answers one line {id, replies} holding the replies whose xid matches a packet it sent.
import dgram from "node:dgram";
import { createInterface } from "node:readline";

interface Command {
  id: number;
  sends: { hex: string; to: string; port: number }[];
  expect: number;
  windowMs?: number;
}

const port = Number(process.argv[2] ?? 68);
const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
let current: { cmd: Command; xids: Set<number>; replies: { from: string; hex: string }[]; finish(): void } | null = null;

s.on("message", (m, r) => {
  if (!current || m.length < 8 || !current.xids.has(m.readUInt32BE(4))) return;
  current.replies.push({ from: `${r.address}:${r.port}`, hex: m.toString("hex") });
  if (current.replies.length >= current.cmd.expect && current.cmd.windowMs === undefined) current.finish();
});

const queue: Command[] = [];
async function run(cmd: Command): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => finish(), cmd.windowMs ?? 15_000);
    const finish = () => {
      clearTimeout(timer);
      process.stdout.write(`${JSON.stringify({ id: cmd.id, replies: current?.replies ?? [] })}\n`);
      current = null;
      resolve();
    };
    current = { cmd, xids: new Set(), replies: [], finish };
    for (const p of cmd.sends) {
      const b = Buffer.from(p.hex, "hex");
      if (b.length >= 8) current.xids.add(b.readUInt32BE(4));
      s.send(b, p.port, p.to);
    }
  });
}
let busy = false;
async function pump(): Promise<void> {
  if (busy) return;
  busy = true;
  while (queue.length) await run(queue.shift()!);
  busy = false;
}

s.bind(port, () => {
  s.setBroadcast(true);
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  createInterface({ input: process.stdin })
    .on("line", (l) => {
      queue.push(JSON.parse(l) as Command);
      void pump();
    })
    .on("close", () => s.close(() => process.exit(0)));
});
