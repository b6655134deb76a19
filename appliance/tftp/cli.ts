// Standalone TFTP server: `node --import tsx appliance/tftp/cli.ts --root DIR [--address A]
// [--port 69] [--max-blksize N] [--max-windowsize N]`. Prints one JSON line per event so a
// parent process (tests, benchmarks) can wait for "listening" and follow transfers.
import { parseArgs } from "node:util";
import { rootProvider } from "./files";
import { DEFAULT_LIMITS } from "./options";
import { TftpServer } from "./server";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    address: { type: "string", default: process.env["PLINTH_TFTP_ADDRESS"] ?? "0.0.0.0" },
    port: { type: "string", default: process.env["PLINTH_TFTP_PORT"] ?? "69" },
    "max-blksize": { type: "string", default: String(DEFAULT_LIMITS.maxBlksize) },
    "max-windowsize": { type: "string", default: String(DEFAULT_LIMITS.maxWindowsize) },
    quiet: { type: "boolean", default: false },
  },
});
const root = values.root ?? process.env["PLINTH_TFTP_ROOT"];
if (!root) {
  console.error("--root DIR (or PLINTH_TFTP_ROOT) is required");
  process.exit(2);
}
const server = new TftpServer({
  provider: rootProvider(root),
  address: values.address,
  port: Number(values.port),
  limits: { maxBlksize: Number(values["max-blksize"]), maxWindowsize: Number(values["max-windowsize"]) },
  onEvent: (e) => {
    if (!values.quiet || e.type === "listening") process.stdout.write(`${JSON.stringify(e)}\n`);
  },
});
await server.listen();
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    void server.close().then(() => process.exit(0));
  });
}
