// `npm run bench` runs every benchmark; `npm run bench -- <name>` runs bench/<name>.ts.
// Each benchmark module exports `run(): Promise<BenchRow[]>`; rows land in
// bench/results/<name>.json and docs/benchmarks.md is rewritten from all results.
// A benchmark's helpers are named <name>-<part>.ts (bench/dns-serve.ts is a child process's
// entry point, not a benchmark), so names with a dash are not benchmarks.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchModule, printRows, writeResults, writeBenchmarksDoc } from "./report";

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !f.includes("-") && !["run.ts", "report.ts"].includes(f))
  .map((f) => f.replace(/\.ts$/, ""))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = wanted.length ? wanted : all;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`unknown benchmark "${name}"; known: ${all.join(", ")}`);
    process.exit(2);
  }
  const mod = (await import(join(here, `${name}.ts`))) as BenchModule;
  console.log(`== bench ${name}`);
  const rows = await mod.run();
  printRows(rows);
  writeResults(name, rows);
}
writeBenchmarksDoc();
