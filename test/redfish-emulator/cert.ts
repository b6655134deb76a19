// A throwaway self-signed certificate for the emulator, made by the real openssl CLI like
// a BMC's factory certificate. Its SHA-256 fingerprint is what a driver pins.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SelfSignedCert {
  key: string;
  cert: string;
  /** SHA-256 over the DER certificate, colon-separated hex as openssl and Node print it. */
  fingerprint256: string;
}

export function makeSelfSignedCert(commonName = "bmc.emulator.invalid"): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), "redfish-emu-cert-"));
  try {
    const key = join(dir, "key.pem");
    const crt = join(dir, "cert.pem");
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          key,
          "-out",
          crt,
          "-days",
          "2",
          "-subj",
          `/CN=${commonName}`,
          "-addext",
          "subjectAltName=IP:127.0.0.1",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ENOENT") throw new Error("openssl is not installed: apt-get install openssl (see test/deps/redfish.txt)");
      throw e;
    }
    const cert = readFileSync(crt, "utf8");
    return { key: readFileSync(key, "utf8"), cert, fingerprint256: new X509Certificate(cert).fingerprint256 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
