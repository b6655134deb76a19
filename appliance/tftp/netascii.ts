// netascii (RFC 764 line endings) for clients that ask for it; tftp-hpa's client does by
// default. Boot firmware always uses octet, so this is only ever small text files: the whole
// file is converted in memory, which also gives tsize the converted length.
import type { TftpFile } from "./files";

/** LF becomes CR LF, a bare CR becomes CR NUL. */
export function toNetascii(data: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of data) if (b === 0x0a || b === 0x0d) extra++;
  const out = new Uint8Array(data.length + extra);
  let j = 0;
  for (const b of data) {
    if (b === 0x0a) {
      out[j++] = 0x0d;
      out[j++] = 0x0a;
    } else if (b === 0x0d) {
      out[j++] = 0x0d;
      out[j++] = 0x00;
    } else out[j++] = b;
  }
  return out;
}

export const NETASCII_MAX_BYTES = 16 << 20;

export async function netasciiFile(file: TftpFile): Promise<TftpFile> {
  const parts: Uint8Array[] = [];
  let offset = 0;
  try {
    for (;;) {
      const chunk = await file.read(offset, 1 << 20);
      if (chunk.length === 0) break;
      parts.push(Uint8Array.from(chunk));
      offset += chunk.length;
      if (offset > NETASCII_MAX_BYTES) throw new Error("file too large for netascii");
    }
  } finally {
    await file.close();
  }
  const data = toNetascii(Buffer.concat(parts));
  return {
    size: data.length,
    read: async (off, len) => data.subarray(off, off + len),
    close: async () => {},
  };
}
