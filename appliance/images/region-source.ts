// Where the rack's image cache fills from: the region's image store, with this rack's own
// credential. The credential is read per download, so a rotation mid-run is picked up. A
// download the cache holds part of continues with a Range request; a region that answers the
// whole image instead (200), or finds the range past the end (416: the part is longer than the
// image, so it is wrong), gets the whole image written from byte 0.
import type { FetchedImage, ImageFetcher } from "./cache";
import { StateDir } from "../state/dir";

export function regionImageSource(o: { stateDir: string; region?: string }): ImageFetcher {
  const state = new StateDir(o.stateDir);
  const get = (sha256: string, from: number) => {
    const cred = state.readCredential();
    if (!cred) throw new Error("not enrolled: no rack credential to fetch images with");
    const base = (o.region ?? cred.region).replace(/\/+$/, "");
    const headers: Record<string, string> = { authorization: `Bearer ${cred.credential}` };
    if (from > 0) headers["range"] = `bytes=${from}-`;
    return fetch(`${base}/api/v1/racks/${cred.rackId}/images/${sha256}`, { headers });
  };
  return async (sha256, opts) => {
    const from = opts?.from ?? 0;
    let res = await get(sha256, from);
    if (res.status === 416 && from > 0) {
      await res.body?.cancel();
      res = await get(sha256, 0);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`the region answered ${res.status} for image ${sha256}`);
    }
    const body = res.body as unknown as AsyncIterable<Uint8Array>;
    if (res.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      if (!m || Number(m[1]) !== from) {
        await res.body.cancel();
        throw new Error(`the region answered image ${sha256} with content-range "${res.headers.get("content-range")}" for bytes ${from}-`);
      }
      return { body, start: from, total: Number(m[3]) } satisfies FetchedImage;
    }
    const length = Number(res.headers.get("content-length"));
    return { body, start: 0, ...(Number.isSafeInteger(length) && length > 0 ? { total: length } : {}) } satisfies FetchedImage;
  };
}
