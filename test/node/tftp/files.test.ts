import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { firstOf, rootProvider, safeSegments, TftpRefusal, type VirtualFile, virtualProvider } from "../../../appliance/tftp/files";
import { toNetascii } from "../../../appliance/tftp/netascii";

const dir = mkdtempSync(join(tmpdir(), "plinth-tftp-files-"));
const root = join(dir, "root");
mkdirSync(join(root, "sub"), { recursive: true });
writeFileSync(join(root, "ipxe.efi"), "EFI");
writeFileSync(join(root, "sub", "x.bin"), "xx");
writeFileSync(join(dir, "secret"), "secret");
symlinkSync("ipxe.efi", join(root, "snp.efi"));
symlinkSync("../secret", join(root, "escape"));
symlinkSync(dir, join(root, "outdir"));
mkdirSync(join(root, "adir"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(name: string): Promise<string | null> {
  const f = await rootProvider(root).open(name);
  if (!f) return null;
  const b = await f.read(0, 1 << 20);
  await f.close();
  return Buffer.from(b).toString();
}

describe("TFTP path rules", () => {
  it.each(["../secret", "sub/../../secret", "/../secret", "\\..\\secret", "..\\secret", "a\0b", "", ".", "..", "/", "a/../../b"])("refuses %j", (name) => {
    expect(() => safeSegments(name)).toThrow(TftpRefusal);
  });
  it("keeps plain names and DOS separators inside the root", () => {
    expect(safeSegments("sub/x.bin")).toEqual(["sub", "x.bin"]);
    expect(safeSegments("sub\\x.bin")).toEqual(["sub", "x.bin"]);
    expect(safeSegments("./sub//x.bin")).toEqual(["sub", "x.bin"]);
    // A leading slash names the root, as tftpd-hpa -s maps it.
    expect(safeSegments("/pxelinux.0")).toEqual(["pxelinux.0"]);
    expect(safeSegments("/grub/grub.cfg")).toEqual(["grub", "grub.cfg"]);
    expect(safeSegments("\\boot\\x.efi")).toEqual(["boot", "x.efi"]);
  });
});

describe("rootProvider", () => {
  it("serves files and symlinks that stay inside the root", async () => {
    expect(await readAll("ipxe.efi")).toBe("EFI");
    expect(await readAll("sub/x.bin")).toBe("xx");
    expect(await readAll("snp.efi")).toBe("EFI");
  });
  it("answers null for a missing file", async () => {
    expect(await readAll("nope")).toBeNull();
    expect(await readAll("ipxe.efi/x")).toBeNull();
  });
  it("refuses symlinks out of the root", async () => {
    await expect(readAll("escape")).rejects.toThrow(TftpRefusal);
    await expect(readAll("outdir/secret")).rejects.toThrow(TftpRefusal);
  });
  it("refuses directories", async () => {
    await expect(readAll("adir")).rejects.toThrow(TftpRefusal);
  });
  it("reads at any offset, short only at the end", async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    writeFileSync(join(root, "big"), big);
    const f = (await rootProvider(root).open("big"))!;
    expect(f.size).toBe(big.length);
    for (const off of [0, 5, (1 << 20) - 3, 2 << 20, big.length - 10]) {
      const got = await f.read(off, 1468);
      expect(Buffer.from(got).equals(big.subarray(off, off + 1468))).toBe(true);
    }
    expect((await f.read(big.length, 512)).length).toBe(0);
    await f.close();
  });

  it("reads the next chunk ahead, so a sequential transfer finds every block already buffered", async () => {
    // 2.5 MiB: three chunks, the last one short; the same bytes as above ("big").
    const size = (5 << 20) / 2;
    const want = Buffer.alloc(size);
    for (let i = 0; i < size; i++) want[i] = i % 251;
    writeFileSync(join(root, "seq"), want);
    const f = (await rootProvider(root).open("seq"))!;
    const got: Uint8Array[] = [];
    let misses = 0;
    // Lock-step: one block at a time, with a turn of the event loop (the round trip) between. A
    // block not buffered yet is given time (the read-ahead is a real disk read, slow on a busy
    // host) before it counts as a miss: only a block nobody is reading ahead never appears.
    const buffered = async (off: number): Promise<Uint8Array | null> => {
      for (let waited = 0; off > 0 && waited < 5000; waited += 5) {
        const b = f.peek!(off, 1468);
        if (b !== null) return b;
        await new Promise((r) => setTimeout(r, 5));
      }
      return f.peek!(off, 1468);
    };
    for (let off = 0; off <= size; off += 1468) {
      let b = await buffered(off);
      if (b === null) {
        misses++;
        b = await f.read(off, 1468);
      }
      got.push(Buffer.from(b));
      await new Promise((r) => setImmediate(r));
    }
    expect(Buffer.concat(got).equals(want)).toBe(true);
    // Only the first read waits for the disk.
    expect(misses).toBe(1);
    // A window across a chunk boundary is joined from the two chunks, with no read.
    const w = 64 * 1468;
    const across = (2 << 20) - 1000;
    const g = await rootProvider(root).open("seq");
    for (let off = 0; off < across; off += w) {
      if (g!.peek!(off, w) === null) await g!.read(off, w);
      await new Promise((r) => setImmediate(r));
    }
    let joined = g!.peek!(across, w);
    for (let waited = 0; joined === null && waited < 5000; waited += 5) {
      await new Promise((r) => setTimeout(r, 5));
      joined = g!.peek!(across, w);
    }
    expect(joined && Buffer.from(joined).equals(want.subarray(across, across + w))).toBe(true);
    await g!.close();
    await f.close();
  });
});

describe("virtual files", () => {
  it("serves from memory and falls through to the next provider", async () => {
    const p = firstOf(
      virtualProvider(
        new Map<string, VirtualFile>([
          ["hello.txt", Buffer.from("hi")],
          ["gen", async () => Buffer.from("made")],
        ]),
      ),
      rootProvider(root),
    );
    const read = async (n: string) => {
      const f = await p.open(n);
      return f ? Buffer.from(await f.read(0, 100)).toString() : null;
    };
    expect(await read("hello.txt")).toBe("hi");
    expect(await read("/hello.txt")).toBe("hi");
    expect(await read("gen")).toBe("made");
    expect(await read("ipxe.efi")).toBe("EFI");
    expect(await read("none")).toBeNull();
  });
});

describe("netascii", () => {
  it("turns LF into CR LF and a bare CR into CR NUL", () => {
    expect(Buffer.from(toNetascii(Buffer.from("a\nb\rc"))).toString("latin1")).toBe("a\r\nb\r\0c");
  });
});
