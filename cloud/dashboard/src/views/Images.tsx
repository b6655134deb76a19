// Images: what the region can deploy, the simplestreams sources it imports from (with their
// selections), the import in progress, and what each rack's cache holds. Live: image events
// reload the page; while an import runs it is also polled, as progress events are sparse.
import { type FormEvent, useEffect, useState } from "react";
import type { Source, SyncStatus } from "../../../../shared/image-sync";
import { api } from "../api";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { ago, bytes } from "../format";
import { useLive } from "../live";
import { useLoad } from "../useLoad";

interface BootImage {
  id: number;
  osystem: string;
  series: string;
  architecture: string;
  kind: string;
  format: string;
  sha256: string | null;
  size: number;
  created_at: number;
}
interface Rack {
  id: string;
  hostname: string;
  site: string;
}
interface RackImage {
  sha256: string;
  state: string;
  bytes: number;
  total: number;
  error: string | null;
  updated_at: number;
  images: { id: number; osystem: string; series: string; architecture: string }[];
}

const list = (s: string) =>
  s
    .split(",")
    .map((w) => w.trim())
    .filter(Boolean);

/** A labelled bar: screen readers read it as a progressbar with its value. */
function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      <div className="progress-fill" style={{ width: `${pct}%` }} />
      <span className="progress-text">
        {pct}% · {bytes(done)} of {bytes(total)}
      </span>
    </div>
  );
}

export function ImagesView() {
  const images = useLoad(async () => (await api<{ items: BootImage[] }>("GET", "/boot-images")).items, []);
  const sources = useLoad(async () => (await api<{ items: Source[] }>("GET", "/boot-sources")).items, []);
  const sync = useLoad(async () => api<SyncStatus>("GET", "/image-sync"), []);
  const racks = useLoad(async () => (await api<{ items: Rack[] }>("GET", "/racks")).items, []);
  const reloadAll = () => {
    images.reload();
    sources.reload();
    sync.reload();
  };
  useLive({ onEvent: (e) => (e.type.startsWith("IMAGE_") || e.type === "RACK_IMAGE_STATE") && reloadAll(), onResync: reloadAll });
  const running = sync.data?.running ?? false;
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => sync.reload(), 2000);
    return () => clearInterval(t);
  }, [running, sync.reload]);

  return (
    <div>
      <header className="page-head">
        <h1>Images</h1>
      </header>
      <SyncPanel status={sync.data} error={sync.error} setError={sync.setError} reload={reloadAll} />
      <section className="card" data-testid="boot-images">
        <h2>Deployable images</h2>
        <ErrorBox error={images.error} onRetry={images.reload} />
        {images.data && images.data.length === 0 ? (
          <Empty>No images yet: add a source below and import, or upload one with `plinth images upload`.</Empty>
        ) : (
          <table className="grid compact">
            <TableHead columns={["Image", "Architecture", "Kind", "Format", "Size", "sha256", "Added"]} />
            <tbody>
              {images.data?.map((i) => (
                <tr key={i.id}>
                  <td>
                    <strong>
                      {i.osystem}/{i.series}
                    </strong>
                  </td>
                  <td className="mono">{i.architecture}</td>
                  <td>{i.kind}</td>
                  <td className="mono">{i.format}</td>
                  <td className="num">{i.sha256 ? bytes(i.size) : "no bytes yet"}</td>
                  <td className="mono small">{i.sha256 ? `${i.sha256.slice(0, 12)}…` : "–"}</td>
                  <td>{ago(i.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <SourcesCard sources={sources.data} error={sources.error} setError={sources.setError} reload={sources.reload} />
      <RackImagesCard racks={racks.data} />
    </div>
  );
}

function SyncPanel(p: { status: SyncStatus | null; error: unknown; setError: (e: unknown) => void; reload: () => void }) {
  const s = p.status?.sync;
  const act = (method: "POST" | "DELETE") => api(method, "/image-sync").then(p.reload, p.setError);
  return (
    <section className="card" data-testid="image-sync">
      <h2>Import</h2>
      <ErrorBox error={p.error} onRetry={p.reload} />
      <div className="inline-form">
        {p.status?.running ? (
          <button type="button" className="danger-outline" onClick={() => act("DELETE")}>
            Stop import
          </button>
        ) : (
          <button type="button" className="primary" onClick={() => act("POST")}>
            Import now
          </button>
        )}
        {s && (
          <span className="muted small" data-testid="sync-state">
            {p.status?.running ? "Importing" : `Last import ${s.state}`} · started {ago(s.started_at)}
            {s.finished_at ? ` · finished ${ago(s.finished_at)}` : ""} · {s.items_done} of {s.items_total} files
          </span>
        )}
      </div>
      {s?.error && (
        <div className="error" role="alert">
          <span>{s.error}</span>
        </div>
      )}
      {s && s.bytes_total > 0 && <Progress done={s.bytes_done} total={s.bytes_total} label="Import progress" />}
      {p.status && p.status.items.length > 0 && (
        <table className="grid compact">
          <TableHead columns={["Image", "Version", "File", "State", "Progress"]} />
          <tbody>
            {p.status.items.map((i) => (
              <tr key={`${i.image}-${i.architecture}-${i.version}-${i.ftype}`}>
                <td>
                  {i.image} <span className="mono small">{i.architecture}</span>
                </td>
                <td className="mono">{i.version}</td>
                <td className="mono">{i.ftype}</td>
                <td title={i.error ?? undefined}>
                  {i.state}
                  {i.error ? `: ${i.error}` : ""}
                </td>
                <td>
                  <Progress done={i.bytes_done} total={i.size} label={`${i.image} ${i.ftype}`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function SourcesCard(p: { sources: Source[] | null; error: unknown; setError: (e: unknown) => void; reload: () => void }) {
  const [url, setUrl] = useState("");
  const [keyring, setKeyring] = useState("");
  const [noVerify, setNoVerify] = useState(false);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("POST", "/boot-sources", {
        url: url.trim(),
        ...(keyring.trim() ? { keyring_data: keyring.trim() } : {}),
        ...(noVerify ? { skip_verify: true } : {}),
      });
      setUrl("");
      setKeyring("");
      setNoVerify(false);
      p.reload();
    } catch (err) {
      p.setError(err);
    }
  };
  return (
    <section className="card" data-testid="boot-sources">
      <h2>Sources</h2>
      <p className="muted small">Simplestreams mirrors (images.maas.io or a site's own). The signed index must verify against the source's keyring.</p>
      <ErrorBox error={p.error} onRetry={p.reload} />
      <form className="inline-form" onSubmit={add}>
        <input
          aria-label="Mirror URL"
          placeholder="https://images.maas.io/ephemeral-v3/stable/"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          size={48}
        />
        <textarea
          aria-label="Keyring (armored OpenPGP public key)"
          placeholder="-----BEGIN PGP PUBLIC KEY BLOCK-----"
          value={keyring}
          onChange={(e) => setKeyring(e.target.value)}
          rows={2}
          cols={48}
        />
        <label className="small">
          <input type="checkbox" checked={noVerify} onChange={(e) => setNoVerify(e.target.checked)} /> Do not verify signatures
        </label>
        <button type="submit" className="primary" disabled={!url.trim()}>
          Add source
        </button>
      </form>
      {p.sources && p.sources.length === 0 && <Empty>No sources: images come only from uploads.</Empty>}
      {p.sources?.map((s) => (
        <SourceRow key={s.id} source={s} setError={p.setError} reload={p.reload} />
      ))}
    </section>
  );
}

function SourceRow({ source: s, setError, reload }: { source: Source; setError: (e: unknown) => void; reload: () => void }) {
  const [os, setOs] = useState("");
  const [release, setRelease] = useState("");
  const [arches, setArches] = useState("amd64");
  const base = `/boot-sources/${s.id}`;
  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("POST", `${base}/selections`, { os: os.trim(), release: release.trim(), arches: list(arches) });
      setOs("");
      setRelease("");
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="source" data-testid={`source-${s.id}`}>
      <div className="inline-form">
        <strong className="mono">{s.url}</strong>
        <span className="muted small">
          {s.skip_verify ? "signatures not verified" : `keyring ${s.keyring_fingerprints.map((f) => f.slice(-16)).join(", ") || s.keyring_filename}`}
        </span>
        <DangerButton
          label="Remove source"
          title={`Remove ${s.url}?`}
          body="Its selections go with it; images already imported stay until deleted."
          run={() => api("DELETE", base).then(reload, setError)}
        />
      </div>
      <table className="grid compact">
        <TableHead columns={["OS", "Release", "Architectures", "Subarches", "Labels", ""]} />
        <tbody>
          {s.selections.map((sel) => (
            <tr key={sel.id}>
              <td>{sel.os}</td>
              <td>{sel.release}</td>
              <td className="mono">{sel.arches.join(", ")}</td>
              <td className="mono">{sel.subarches.join(", ")}</td>
              <td className="mono">{sel.labels.join(", ")}</td>
              <td>
                <DangerButton
                  label="Remove"
                  title={`Stop importing ${sel.os}/${sel.release}?`}
                  body="Images already imported stay."
                  run={() => api("DELETE", `${base}/selections/${sel.id}`).then(reload, setError)}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline-form" onSubmit={add}>
        <input aria-label={`OS for ${s.url}`} placeholder="ubuntu" value={os} onChange={(e) => setOs(e.target.value)} className="small-input" />
        <input aria-label={`Release for ${s.url}`} placeholder="noble" value={release} onChange={(e) => setRelease(e.target.value)} className="small-input" />
        <input
          aria-label={`Architectures for ${s.url}`}
          placeholder="amd64, arm64"
          value={arches}
          onChange={(e) => setArches(e.target.value)}
          className="small-input"
        />
        <button type="submit" disabled={!os.trim() || !release.trim()}>
          Add selection
        </button>
      </form>
    </div>
  );
}

function RackImagesCard({ racks }: { racks: Rack[] | null }) {
  const [rackId, setRackId] = useState("");
  const chosen = rackId || racks?.[0]?.id || "";
  const held = useLoad(async () => (chosen ? (await api<{ items: RackImage[] }>("GET", `/racks/${encodeURIComponent(chosen)}/images`)).items : []), [chosen]);
  useLive({ onEvent: (e) => e.type === "RACK_IMAGE_STATE" && held.reload() });
  if (!racks || racks.length === 0) return null;
  return (
    <section className="card" data-testid="rack-images">
      <h2>On the racks</h2>
      <label className="small">
        Rack{" "}
        <select value={chosen} onChange={(e) => setRackId(e.target.value)}>
          {racks.map((r) => (
            <option key={r.id} value={r.id}>
              {r.hostname} ({r.site})
            </option>
          ))}
        </select>
      </label>
      <ErrorBox error={held.error} onRetry={held.reload} />
      {held.data && held.data.length === 0 ? (
        <Empty>This rack has reported no images yet.</Empty>
      ) : (
        <table className="grid compact">
          <TableHead columns={["Image", "State", "Progress", "Updated"]} />
          <tbody>
            {held.data?.map((h) => (
              <tr key={h.sha256}>
                <td>
                  {h.images.map((i) => `${i.osystem}/${i.series} ${i.architecture}`).join(", ") || <span className="mono small">{h.sha256.slice(0, 12)}…</span>}
                </td>
                <td title={h.error ?? undefined}>
                  {h.state}
                  {h.error ? `: ${h.error}` : ""}
                </td>
                <td>
                  {h.state === "downloading" ? (
                    <Progress done={h.bytes} total={h.total} label={`${h.sha256.slice(0, 12)} on the rack`} />
                  ) : (
                    bytes(h.total || h.bytes)
                  )}
                </td>
                <td>{ago(h.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
