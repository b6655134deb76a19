// The metadata relay's contract: booting nodes call /metadata/... on the appliance, and the
// tunnel side forwards to the region (journaling while it is away). This file is only the
// seam; the HTTP server knows nothing about the tunnel.

export interface MetadataRequest {
  method: string;
  /** The path after /metadata, starting with "/". */
  path: string;
  /** Raw query string without "?", possibly empty. */
  query: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The node's address, as the appliance saw it. */
  remote: string;
}

export interface MetadataResponse {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

export type MetadataRelay = (req: MetadataRequest) => Promise<MetadataResponse>;

/** Largest body a node may post (commissioning output is a few MiB at most). */
export const METADATA_MAX_BODY = 16 << 20;

/** Where the MAAS metadata API is mounted; part of the URL a node signs (metadata/maas.ts). */
export const MAAS_METADATA_PREFIX = "/MAAS/metadata";
