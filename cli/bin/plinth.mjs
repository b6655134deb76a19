#!/usr/bin/env node
// The `plinth` package bin: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../main.ts");
const { CliError } = await import("../client.ts");
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CliError) {
    process.stderr.write(`plinth: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else {
    process.stderr.write(`plinth: unexpected failure: ${e?.stack ?? e}\n`);
    process.exitCode = 1;
  }
}
