// Policy meets protocol here: given what a client says about its firmware, which boot program
// does it get? Returning null means "no boot information" (the client may still get a lease).
import type { DhcpSnapshot } from "./config";

export interface BootRequest {
  mac: string;
  /** RFC 4578 client architecture (option 93), or from the PXE vendor class when 93 is missing. */
  arch?: number;
  vendorClass?: string; // option 60 as sent
  userClass?: string; // option 77 as sent
  /** Our address on the interface the request arrived on: the default TFTP/HTTP server. */
  serverAddress: string;
}

export interface BootSpec {
  /** Option 67 and the BOOTP file field: a TFTP path or an absolute http:// URL. */
  filename: string;
  /** siaddr and option 66. */
  nextServer: string;
  /** Option 60 in the reply: "HTTPClient" is mandatory for UEFI HTTP boot, "PXEClient" for PXE ROMs. */
  vendorClass?: "PXEClient" | "HTTPClient";
  /** iPXE is running: add option 175 with 176 = 1 so it does not wait ~3 s for proxyDHCP offers. */
  ipxe: boolean;
}

export interface BootDecider {
  decide(req: BootRequest): BootSpec | null;
  /** Does the region know this machine? Unknown MACs trigger enlistment (dhcp.discover). */
  known(mac: string): boolean;
}

export const Arch = { BIOS: 0, EFI_IA32: 6, EFI_X64: 7, EFI_BC: 9, EFI_ARM64: 11, EFI_X64_HTTP: 16 } as const;

export function isBootClient(r: Pick<BootRequest, "arch" | "vendorClass" | "userClass">): boolean {
  return r.arch !== undefined || r.userClass === "iPXE" || !!r.vendorClass?.startsWith("PXEClient") || !!r.vendorClass?.startsWith("HTTPClient");
}

/** "PXEClient:Arch:00007:UNDI:003016" → 7. */
export function archFromVendorClass(vc: string | undefined): number | undefined {
  const m = vc?.match(/^(?:PXE|HTTP)Client:Arch:(\d{5})/);
  return m ? Number(m[1]) : undefined;
}

export class SnapshotBootDecider implements BootDecider {
  private knownMacs = new Set<string>();

  constructor(private snap: DhcpSnapshot) {
    this.update(snap);
  }

  update(snap: DhcpSnapshot): void {
    this.snap = snap;
    this.knownMacs = new Set([...snap.reservations.map((r) => r.mac), ...snap.bootIntents.map((b) => b.mac)]);
  }

  known(mac: string): boolean {
    return this.knownMacs.has(mac);
  }

  decide(req: BootRequest): BootSpec | null {
    if (!isBootClient(req)) return null;
    if (!this.known(req.mac) && !this.snap.boot.enlistUnknown) return null;
    const server = this.snap.boot.applianceAddress ?? req.serverAddress;
    const http = `http://${server}:${this.snap.boot.httpPort}`;
    // iPXE first: once chained, it asks again with the same arch but must get the script.
    if (req.userClass === "iPXE") return { filename: `${http}/boot.ipxe`, nextServer: server, ipxe: true };
    if (req.vendorClass?.startsWith("HTTPClient") || req.arch === Arch.EFI_X64_HTTP) {
      if (req.arch !== undefined && req.arch !== Arch.EFI_X64_HTTP) return null;
      return { filename: `${http}/${this.snap.boot.efiFile}`, nextServer: server, vendorClass: "HTTPClient", ipxe: false };
    }
    const arch = req.arch ?? Arch.BIOS;
    if (arch === Arch.BIOS) return { filename: this.snap.boot.biosFile, nextServer: server, vendorClass: "PXEClient", ipxe: false };
    if (arch === Arch.EFI_X64 || arch === Arch.EFI_BC) return { filename: this.snap.boot.efiFile, nextServer: server, vendorClass: "PXEClient", ipxe: false };
    // No iPXE build for this firmware (IA32, arm64 …) is shipped yet.
    return null;
  }
}
