import { describe, expect, it } from "vitest";
import { BootIntent } from "../../../appliance/http/intent";
import { bootScript, localScript, nodeScript } from "../../../appliance/http/ipxe";
import { parseRange } from "../../../appliance/http/range";

const base = "http://10.0.0.2:5248";

describe("iPXE scripts", () => {
  it("boot.ipxe chains to the per-MAC script with platform and arch", () => {
    const s = bootScript(base);
    expect(s.startsWith("#!ipxe\n")).toBe(true);
    expect(s).toContain(`chain --autofree http://10.0.0.2:5248/boot/\${net0/mac}.ipxe?platform=\${platform}&arch=\${buildarch} || goto failed`);
  });
  for (const kind of ["enlist", "commission", "deploy", "rescue"] as const) {
    it(`${kind}: kernel, initrd and arguments with BOOTIF, metadata URL and token`, () => {
      const s = nodeScript(
        { kind, kernel: "images/aa/vmlinuz", initrd: "http://mirror/initrd.img", cmdline: "console=ttyS0,115200 quiet", token: "t0k.en" },
        { baseUrl: base, platform: "pcbios" },
      );
      const lines = s.trim().split("\n");
      expect(lines[0]).toBe("#!ipxe");
      expect(lines[2]).toBe(
        `kernel --name kernel ${base}/images/aa/vmlinuz initrd=initrd console=ttyS0,115200 quiet BOOTIF=01-\${net0/mac:hexhyp} plinth.url=${base}/metadata/ plinth.token=t0k.en plinth.purpose=${kind}`,
      );
      expect(lines[3]).toBe("initrd --name initrd http://mirror/initrd.img");
      expect(lines[4]).toBe("boot");
    });
  }
  it("local: sanboot on BIOS, exit on UEFI, decided by iPXE when unknown", () => {
    expect(localScript("pcbios")).toContain("sanboot --no-describe --drive 0x80");
    expect(localScript("pcbios")).not.toContain("exit");
    expect(localScript("efi").trim().split("\n").at(-1)).toBe("exit");
    expect(localScript(null)).toContain(`iseq \${platform} efi && exit || sanboot --no-describe --drive 0x80`);
    expect(nodeScript({ kind: "local" }, { baseUrl: base, platform: "efi" })).toBe(localScript("efi"));
  });
  it("intent validation keeps iPXE expansion and new lines out of scripts", () => {
    const ok = { kind: "deploy", kernel: "images/a/k", initrd: "images/a/i" };
    expect(BootIntent.safeParse(ok).success).toBe(true);
    expect(BootIntent.safeParse({ ...ok, cmdline: `x \${net0/ip}` }).success).toBe(false);
    expect(BootIntent.safeParse({ ...ok, cmdline: "a\nshell" }).success).toBe(false);
    expect(BootIntent.safeParse({ ...ok, kernel: "a b" }).success).toBe(false);
    expect(BootIntent.safeParse({ ...ok, token: "x y" }).success).toBe(false);
    expect(BootIntent.safeParse({ kind: "reboot" }).success).toBe(false);
  });
});

describe("Range parsing", () => {
  const size = 1000;
  it.each([
    [undefined, { kind: "full" }],
    ["bytes=0-99", { kind: "partial", start: 0, end: 99 }],
    ["bytes=900-", { kind: "partial", start: 900, end: 999 }],
    ["bytes=-100", { kind: "partial", start: 900, end: 999 }],
    ["bytes=-5000", { kind: "partial", start: 0, end: 999 }],
    ["bytes=990-5000", { kind: "partial", start: 990, end: 999 }],
    ["bytes=1000-", { kind: "unsatisfiable" }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=5-1", { kind: "full" }],
    ["bytes=0-1,5-6", { kind: "full" }],
    ["items=0-1", { kind: "full" }],
    ["bytes=-", { kind: "full" }],
  ])("%s", (h, want) => {
    expect(parseRange(h, size)).toEqual(want);
  });
});
