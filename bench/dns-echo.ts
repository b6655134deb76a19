// The floor under ours for `npm run bench -- dns`: a node:dgram server that sends every query
// back as its own reply (QR set, no DNS work), so the bench can tell how much of ours is the
// socket path every Node UDP server pays and how much is the DNS handler.
//   node bench/dns-echo.ts <address> <port>
import { createSocket } from "node:dgram";

const [address = "127.0.0.1", port = "53"] = process.argv.slice(2);
const s = createSocket("udp4");
s.on("message", (m, r) => {
  if (m.length < 12) return;
  m[2] = m[2]! | 0x80;
  s.send(m, r.port, r.address);
});
s.bind(Number(port), address, () => process.stdout.write("ready\n"));
process.once("SIGTERM", () => s.close(() => process.exit(0)));
