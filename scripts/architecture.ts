// The region's and the appliance's structural rules, checked by test/node/architecture and
// printable with `node --import tsx scripts/architecture.ts`: no import cycles, D1 written only
// by cloud/domain/, no machine-status numbers outside shared/lifecycle.ts.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");

export function sourceFiles(dir: string, exts = [".ts", ".tsx"]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name === "node_modules" || name === "dist" || name === "build") continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (exts.some((e) => name.endsWith(e)) && !name.endsWith(".d.ts")) out.push(p);
    }
  };
  walk(resolve(ROOT, dir));
  return out.sort();
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\sfrom\s+)?["']([^"']+)["']/g;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

function resolveImport(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const base = resolve(dirname(from), spec);
  for (const c of [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts"), join(base, "index.tsx")]) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  if (base.endsWith(".js")) return resolveImport(from, spec.slice(0, -3));
  return null;
}

/** Every import cycle among the files of `dirs` (type-only imports count: they tie modules too). */
export function importCycles(dirs: string[]): string[][] {
  const files = dirs.flatMap((d) => sourceFiles(d));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    const deps = new Set<string>();
    for (const re of [IMPORT, DYNAMIC]) {
      for (const m of text.matchAll(re)) {
        const r = resolveImport(f, m[1]!);
        if (r) deps.add(r);
      }
    }
    graph.set(f, [...deps]);
  }
  // Tarjan's strongly connected components: every component of more than one file is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(relative(ROOT, w));
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
    }
  };
  for (const f of graph.keys()) if (!idx.has(f)) visit(f);
  return cycles;
}

export interface Finding {
  file: string;
  line: number;
  text: string;
}

function scan(files: string[], re: RegExp): Finding[] {
  const out: Finding[] = [];
  for (const f of files) {
    readFileSync(f, "utf8")
      .split("\n")
      .forEach((text, i) => {
        if (re.test(text)) out.push({ file: relative(ROOT, f), line: i + 1, text: text.trim().slice(0, 160) });
      });
  }
  return out;
}

const regionFiles = () => sourceFiles("cloud").filter((f) => !relative(ROOT, f).startsWith("cloud/dashboard/"));
const outsideDomain = (f: string) => !relative(ROOT, f).startsWith("cloud/domain/");

/** SQL that writes, or a drizzle write, in region code outside cloud/domain/. */
export const WRITE = /\b(INSERT\s+(OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b|\.(insert|update|delete)\(\s*schema\./i;

export function writesOutsideDomain(): Finding[] {
  return scan(regionFiles().filter(outsideDomain), WRITE);
}

export function eventInsertsOutsideDomain(): Finding[] {
  return scan(regionFiles().filter(outsideDomain), /INSERT INTO events/);
}

/**
 * A machine status written as a number: in SQL (`status = 4`, `status IN (4, 6)`) or in code
 * (`status !== 6`). HTTP statuses (three digits) do not match.
 */
export function statusLiterals(): Finding[] {
  const files = [...sourceFiles("cloud"), ...sourceFiles("appliance"), ...sourceFiles("cli"), ...sourceFiles("shared")].filter(
    // IPMI completion codes and RMCP+ status bytes are protocol numbers, not machine statuses.
    (f) => !relative(ROOT, f).startsWith("appliance/bmc/") && relative(ROOT, f) !== "shared/lifecycle.ts",
  );
  return scan(files, STATUS_LITERAL);
}

export const STATUS_LITERAL = /\b\w*status\w*\s*(===|!==|==|!=|<>|=|<=|>=|<|>)\s*\d{1,2}(?!\d)|\b\w*status\w*\s+(NOT\s+)?IN\s*\(\s*\d/i;

if (process.argv[1] && resolve(process.argv[1]) === resolve(ROOT, "scripts/architecture.ts")) {
  const cycles = importCycles(["cloud", "appliance", "shared", "cli"]);
  for (const c of cycles) console.log(`cycle: ${c.join(" <-> ")}`);
  for (const f of writesOutsideDomain()) console.log(`write outside cloud/domain: ${f.file}:${f.line}: ${f.text}`);
  for (const f of statusLiterals()) console.log(`status literal: ${f.file}:${f.line}: ${f.text}`);
}
