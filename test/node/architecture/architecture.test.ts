// The region's layering and the codebase's structural rules (scripts/architecture.ts): a
// failure names the file and line that broke them.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { eventInsertsOutsideDomain, importCycles, STATUS_LITERAL, statusLiterals, WRITE, writesOutsideDomain } from "../../../scripts/architecture";

const show = (fs: { file: string; line: number; text: string }[]) => fs.map((f) => `${f.file}:${f.line}: ${f.text}`);

describe("architecture", () => {
  it("has no import cycle in cloud/, appliance/, shared/ or cli/ (type-only imports count)", () => {
    expect(importCycles(["cloud", "appliance", "shared", "cli"])).toEqual([]);
  });

  it("writes D1 only from cloud/domain/", () => {
    expect(show(writesOutsideDomain())).toEqual([]);
    expect(show(eventInsertsOutsideDomain())).toEqual([]);
  });

  it("names machine statuses only through shared/lifecycle.ts", () => {
    expect(show(statusLiterals())).toEqual([]);
  });

  it("the checks find what they look for", () => {
    const dir = mkdtempSync(join(tmpdir(), "plinth-arch-"));
    try {
      writeFileSync(join(dir, "a.ts"), 'import type { B } from "./b";\nexport type A = B;\n');
      writeFileSync(join(dir, "b.ts"), 'import { c } from "./c";\nimport type { A } from "./a";\nexport type B = A | typeof c;\n');
      writeFileSync(join(dir, "c.ts"), "export const c = 1;\n");
      const cycles = importCycles([dir]);
      expect(cycles).toHaveLength(1);
      expect(cycles[0]!.map((f) => f.split("/").pop())).toEqual(["a.ts", "b.ts"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const sql of ["INSERT INTO events (a) VALUES (1)", "INSERT OR IGNORE INTO tags", "UPDATE machines SET status = ?", "DELETE FROM racks WHERE id = ?"])
      expect(WRITE.test(sql)).toBe(true);
    expect(WRITE.test("SELECT id FROM machines WHERE updated_at > ?")).toBe(false);
    for (const code of ["c.status = 4", "status !== 6", "WHERE status IN (4, 12)", "previous_status = 10"]) expect(STATUS_LITERAL.test(code)).toBe(true);
    for (const code of ["status: 201", "r.status === 401", "status = ?", "status === NODE_STATUS.READY"]) expect(STATUS_LITERAL.test(code)).toBe(false);
  });
});
