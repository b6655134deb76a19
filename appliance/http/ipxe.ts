// iPXE script text. Pure: the same intent always renders the same script.
import type { BootIntent, Platform } from "./intent";

/** An iPXE settings reference, expanded by iPXE on the node, never by us. */
const v = (name: string) => `\${${name}}`;

export interface ScriptContext {
  /** e.g. "http://10.0.0.2:5248", no trailing slash. */
  baseUrl: string;
  platform: Platform;
}

/**
 * The entry script DHCP hands to iPXE clients. The MAC travels in the URL so the per-node
 * answer needs no server-side state; on failure iPXE exits to the firmware's next device.
 */
export function bootScript(baseUrl: string): string {
  return [
    "#!ipxe",
    `chain --autofree ${baseUrl}/boot/${v("net0/mac")}.ipxe?platform=${v("platform")}&arch=${v("buildarch")} || goto failed`,
    // A node script that returns (UEFI local boot does) hands back to the firmware from here.
    "exit",
    ":failed",
    `echo Plinth: no boot script for ${v("net0/mac")}, trying the next boot device`,
    "exit",
    "",
  ].join("\n");
}

function absolute(baseUrl: string, ref: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) ? ref : `${baseUrl}/${ref.replace(/^\/+/, "")}`;
}

/** The per-node script for an intent. */
export function nodeScript(intent: BootIntent, ctx: ScriptContext): string {
  if (intent.kind === "local") return localScript(ctx.platform);
  const args = [
    // Debian's 2019 iPXE needs initrd=<name> under UEFI; the BIOS path ignores it.
    "initrd=initrd",
    intent.cmdline.trim(),
    // Which NIC booted, for the ephemeral environment (MAAS's convention).
    `BOOTIF=01-${v("net0/mac:hexhyp")}`,
    `plinth.url=${ctx.baseUrl}/metadata/`,
    intent.token ? `plinth.token=${intent.token}` : "",
    `plinth.purpose=${intent.kind}`,
  ].filter((a) => a !== "");
  return [
    "#!ipxe",
    `echo Plinth: ${intent.kind}`,
    `kernel --name kernel ${absolute(ctx.baseUrl, intent.kernel)} ${args.join(" ")}`,
    `initrd --name initrd ${absolute(ctx.baseUrl, intent.initrd)}`,
    "boot",
    "",
  ].join("\n");
}

/** Boot from the first local disk: BIOS needs sanboot, UEFI returns to the firmware's boot order. */
export function localScript(platform: Platform): string {
  const body =
    platform === "efi"
      ? ["exit"]
      : platform === "pcbios"
        ? ["sanboot --no-describe --drive 0x80"]
        : [`iseq ${v("platform")} efi && exit || sanboot --no-describe --drive 0x80`];
  return ["#!ipxe", "echo Plinth: booting from local disk", ...body, ""].join("\n");
}
