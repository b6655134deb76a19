// Where the rack's image cache fills from: the region's image store, with this rack's own
// credential. The credential is read per download, so a rotation mid-run is picked up.
import type { ImageFetcher } from "./cache";
import { StateDir } from "../state/dir";

export function regionImageSource(o: { stateDir: string; region?: string }): ImageFetcher {
  const state = new StateDir(o.stateDir);
  return async (sha256) => {
    const cred = state.readCredential();
    if (!cred) throw new Error("not enrolled: no rack credential to fetch images with");
    const base = (o.region ?? cred.region).replace(/\/+$/, "");
    const res = await fetch(`${base}/api/v1/racks/${cred.rackId}/images/${sha256}`, { headers: { authorization: `Bearer ${cred.credential}` } });
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`the region answered ${res.status} for image ${sha256}`);
    }
    return res.body as unknown as AsyncIterable<Uint8Array>;
  };
}
