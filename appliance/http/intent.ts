// What a booting node should do, decided on the appliance from the region's snapshot (so a
// boot never waits on the WAN). The HTTP server asks; the snapshot answers.
import { z } from "zod";

/** Characters iPXE would not expand or split on: no `$`, quotes, whitespace controls or newlines. */
const IPXE_SAFE = /^[A-Za-z0-9._~:/?#@!&'()*+,;=%\- ]*$/;
const uriOrPath = z
  .string()
  .min(1)
  .max(2048)
  .regex(IPXE_SAFE)
  .refine((s) => !s.includes(" "), "no spaces");

export const NetbootIntent = z.object({
  kind: z.enum(["enlist", "commission", "deploy", "rescue"]),
  /** Absolute URL, or a path on this server such as "images/<sha256>". */
  kernel: uriOrPath,
  initrd: uriOrPath,
  /** Extra kernel arguments from the region (BOOTIF, metadata URL and token are added here). */
  cmdline: z.string().max(4096).regex(IPXE_SAFE).default(""),
  /** The node's own metadata token: it reaches only this machine's metadata. */
  token: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{1,256}$/)
    .optional(),
});
export const LocalIntent = z.object({ kind: z.literal("local") });
export const BootIntent = z.discriminatedUnion("kind", [NetbootIntent, LocalIntent]);
export type BootIntent = z.infer<typeof BootIntent>;
/** What a lookup may return: cmdline may be left out. */
export type BootIntentInput = z.input<typeof BootIntent>;

export type Platform = "pcbios" | "efi" | null;

export interface BootQuery {
  /** Lower-case, colon-separated. */
  mac: string;
  /** iPXE's ${platform}, when the script chain passed it. */
  platform: Platform;
  /** iPXE's ${buildarch} (i386, x86_64, arm64), when passed. */
  arch: string | null;
  remote: string;
}

/**
 * Returns the node's intent. An unknown MAC should get "enlist"; null means "not ours": the
 * node is told to go on to its next boot device.
 */
export type BootIntentLookup = (q: BootQuery) => Promise<BootIntentInput | null> | BootIntentInput | null;
