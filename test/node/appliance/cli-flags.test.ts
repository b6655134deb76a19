// plinth-appliance's flags and their environment twins: a bad value is refused with exit 2 and
// a message naming the flag, before anything starts (no state dir, no region, no sockets).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { regionUrlProblem } from "../../../appliance/tunnel/region-url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

function appliance(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repo, "appliance/cli.ts"), ...args], {
    cwd: repo,
    encoding: "utf8",
    timeout: 30_000,
    env: { PATH: process.env["PATH"] ?? "", ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("plinth-appliance flags", () => {
  it("run --help lists the tuning flags and their environment twins", () => {
    const r = appliance(["run", "--help"]);
    expect(r.code).toBe(0);
    for (const s of [
      "--http-memory-bytes",
      "--power-poll-concurrency",
      "--image-cache-bytes",
      "PLINTH_HTTP_MEMORY_BYTES",
      "PLINTH_POWER_POLL_CONCURRENCY",
      "--dns-port",
      "--dns-listen",
      "--dns-axfr-allow",
      "PLINTH_DNS_PORT",
    ])
      expect(r.stdout).toContain(s);
  });

  const bad: [string, string[], Record<string, string>, RegExp][] = [
    ["a non-number memory budget", ["run", "--http-memory-bytes", "lots"], {}, /--http-memory-bytes must be a whole number of bytes/],
    ["a negative memory budget", ["run", "--http-memory-bytes=-1"], {}, /--http-memory-bytes must be/],
    ["a memory budget from the environment", ["run"], { PLINTH_HTTP_MEMORY_BYTES: "1.5" }, /--http-memory-bytes must be/],
    ["no poll concurrency", ["run", "--power-poll-concurrency", "0"], {}, /--power-poll-concurrency must be a whole number from 1 to 256/],
    ["too much poll concurrency", ["run"], { PLINTH_POWER_POLL_CONCURRENCY: "1000" }, /--power-poll-concurrency must be/],
    ["a DNS port out of range", ["run", "--dns-port", "70000"], {}, /--dns-port must be a port number/],
    ["a DNS port from the environment", ["run"], { PLINTH_DNS_PORT: "fifty-three" }, /--dns-port must be/],
    ["a DNS listen address that is not one", ["run", "--dns-listen", "10.0.0.1,eth0"], {}, /--dns-listen: "eth0" is not an IP address/],
    ["an AXFR allow entry that is not a CIDR", ["run", "--dns-axfr-allow", "10.0.0.0/33"], {}, /--dns-axfr-allow: "10.0.0.0\/33" is not/],
    ["a fractional cache bound", ["run", "--image-cache-bytes", "2.5"], {}, /--image-cache-bytes must be a whole number/],
  ];
  // Checked before any request: a refused URL is never dialled, so these names need not resolve.
  const plain = /plain http: the rack's credential and the BMC passwords would cross the network unencrypted\. Use https:\/\/, or pass --insecure/;
  bad.push(
    ["a plain http region at enrolment", ["enrol", "--region", "http://region.invalid", "--token", "t"], {}, plain],
    ["a plain http region to run with", ["run", "--state-dir", "/nonexistent"], { PLINTH_REGION: "http://10.0.0.1:5240" }, plain],
  );
  it.each(bad)("refuses %s with exit 2", (_name, args, env, message) => {
    const r = appliance(args, env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  // --insecure gets past the URL check: enrolment then fails to reach the region (.invalid never
  // resolves), with exit 1 and no word about plain http. Every spawn costs seconds, so the
  // loopback and scheme rules are checked on the function below.
  it("accepts a plain http region with --insecure", () => {
    const r = appliance(["enrol", "--state-dir", "/nonexistent-plinth-state", "--token", "t", "--region", "http://region.invalid", "--insecure"]);
    expect(r.stderr).not.toMatch(/plain http/);
    expect(r.code, r.stderr).toBe(1);
  });

  it("allows plain http to loopback only, or with insecure", () => {
    for (const ok of ["https://region.example.com", "http://127.0.0.1:8787", "http://127.9.9.9/", "http://localhost:5240", "http://[::1]:9"])
      expect(regionUrlProblem(ok, false), ok).toBeNull();
    expect(regionUrlProblem("http://10.0.0.1:5240", true)).toBeNull();
    for (const refused of ["http://10.0.0.1:5240", "http://128.0.0.1", "http://[fd00::1]:8787", "http://localhost.example.com", "http://127.0.0.1.nip.io"])
      expect(regionUrlProblem(refused, false), refused).toMatch(/plain http/);
    expect(regionUrlProblem("region.example.com", false)).toMatch(/is not a URL/);
    expect(regionUrlProblem("ftp://region.example.com", true)).toMatch(/"ftp:" is not supported/);
  });
});
