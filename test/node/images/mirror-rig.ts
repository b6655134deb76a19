// The test mirror: a simplestreams mirror written by images/publish.ts, signed with a throwaway
// GPG key (Debian's gpg, in a temporary GNUPGHOME), served over HTTP from inside a network
// namespace of the caller's prefix and reached from the host (where workerd runs the region)
// through a veth /30. stop() kills the server and gpg-agent this rig started, by PID, and
// deletes the namespace and the host end of the veth.
import { type ChildProcess, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { publishMirror, type PublishProduct, productsPath, DEFAULT_CONTENT_ID } from "../../../images/publish";
import { SIGNED_INDEX, UNSIGNED_INDEX } from "../../../shared/simplestreams";
import { createNetns, hostUplink, ip, type Netns, requireRoot, stop as stopChild } from "../rig/netns";

export type MirrorProduct = PublishProduct;

export interface Mirror {
  /** http://<address in the namespace>:<port>/, reachable from the host. */
  url: string;
  /** The armored public key that signed the mirror. */
  keyring: string;
  fingerprint: string;
  /** The mirror's files (on the host). */
  dir: string;
  /** The namespace the server runs in. */
  ns: string;
  /** The mirror offers exactly `products` afterwards (entries differing only in version make one product with several versions); re-signed. */
  publish(products: MirrorProduct[]): Promise<void>;
  /** Changes one byte of the signed JSON in index.sjson (and index.json) and keeps the old signatures. */
  tamperIndex(): Promise<void>;
  stop(): Promise<void>;
}

export const CONTENT_ID = DEFAULT_CONTENT_ID;
export { productsPath };

const serverScript = resolve(import.meta.dirname, "mirror-server.mjs");

/** A throwaway signing key in its own GNUPGHOME: ed25519, no passphrase, signing only. */
export function throwawayKey(home: string): { fingerprint: string; keyring: string } {
  const gpg = (args: string[]) => execFileSync("gpg", ["--homedir", home, "--batch", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  gpg(["--passphrase", "", "--quick-gen-key", "Plinth test mirror <mirror@plinth.invalid>", "ed25519", "sign", "never"]);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(["--with-colons", "--list-keys"]))?.[1];
  if (!fpr) throw new Error("gpg made no key");
  return { fingerprint: fpr, keyring: gpg(["--armor", "--export", fpr]) };
}

/** An unused 10.a.b.0/30 for the host ↔ namespace link: random, and not on any host interface. */
function freeLink(): string {
  const used = ip("-o", "-4", "addr", "show");
  for (let i = 0; i < 50; i++) {
    const [a, b] = randomBytes(2);
    const link = `10.${100 + (a! % 100)}.${64 + (b! % 128)}`;
    if (!used.includes(` ${link}.`)) return link;
  }
  throw new Error("no free 10.x.y.0/30 for the mirror's link");
}

export async function startMirror(o: { ns: string; products: MirrorProduct[]; sign?: boolean }): Promise<Mirror> {
  requireRoot();
  const sign = o.sign ?? true;
  const work = mkdtempSync(join(tmpdir(), "plinth-mirror-"));
  const home = join(work, "gnupg");
  const dir = join(work, "mirror");
  execFileSync("mkdir", ["-m", "700", home]);
  const key = sign ? throwawayKey(home) : { fingerprint: "", keyring: "" };
  const write = async (products: MirrorProduct[]) => {
    await publishMirror(dir, products, { replace: true, ...(sign ? { sign: { key: key.fingerprint, homedir: home } } : {}) });
  };
  let netns: Netns | undefined;
  let hostIf = "";
  let server: ChildProcess | undefined;
  // A test process that dies without stop() still takes the namespace (and the veth) with it.
  const killAgent = () => {
    if (!sign) return;
    try {
      // The agent gpg started for this GNUPGHOME only (it exits when told, by its socket).
      execFileSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { stdio: "ignore" });
    } catch {
      // no agent running
    }
  };
  // A test process that dies without stop() still takes the namespace (and the veth), its
  // gpg-agent and its files with it; the server sees its stdin close and exits.
  const onExit = () => {
    netns?.destroy();
    killAgent();
    rmSync(work, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  const cleanup = async () => {
    process.off("exit", onExit);
    if (server) await stopChild(server);
    server = undefined;
    killAgent();
    if (hostIf) {
      try {
        ip("link", "del", hostIf);
      } catch {
        // went with the namespace
      }
      hostIf = "";
    }
    netns?.destroy();
    netns = undefined;
    rmSync(work, { recursive: true, force: true });
  };
  try {
    await write(o.products);
    netns = createNetns(o.ns);
    const link = freeLink();
    hostIf = hostUplink(netns, link).hostIf;
    const addr = `${link}.2`;
    server = netns.spawn(process.execPath, [serverScript, dir, addr, "80"], { stdio: ["pipe", "pipe", "inherit"] });
    const child = server;
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error("mirror server did not start")), 15_000);
      createInterface({ input: child.stdout! }).once("line", () => {
        clearTimeout(t);
        ok();
      });
      child.once("exit", (code) => {
        clearTimeout(t);
        fail(new Error(`mirror server exited (${code})`));
      });
    });
    const ns = netns.name;
    return {
      url: `http://${addr}:80/`,
      keyring: key.keyring,
      fingerprint: key.fingerprint,
      dir,
      ns,
      publish: write,
      tamperIndex: async () => tamper(dir),
      stop: cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Flips a digit of the index's `updated` date: still JSON, still the same shape, no longer what was signed. */
async function tamper(dir: string): Promise<void> {
  const flip = (text: string) => {
    const m = /"updated": "[^"]*?(\d)/.exec(text);
    if (!m) throw new Error("no date to tamper with in the index");
    const at = m.index + m[0].length - 1;
    return text.slice(0, at) + String((Number(text[at]) + 1) % 10) + text.slice(at + 1);
  };
  const sjson = join(dir, SIGNED_INDEX);
  try {
    writeFileSync(sjson, flip(readFileSync(sjson, "utf8")));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const json = join(dir, UNSIGNED_INDEX);
  writeFileSync(json, flip(readFileSync(json, "utf8")));
}
