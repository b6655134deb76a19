// Deploy asks which OS and release, from the boot images the region holds, starting at the
// region's default (settings default_osystem / default_distro_series); the region still refuses
// an image without content, and its message shows here.
import { type FormEvent, useEffect, useRef, useState } from "react";
import { api } from "../api";
import { useLoad } from "../useLoad";
import { ErrorBox } from "./bits";

interface Image {
  osystem: string;
  series: string;
  architecture: string;
  sha256: string | null;
}

export function DeployDialog({
  hostname,
  architecture,
  onDeploy,
  onClose,
}: {
  hostname: string;
  architecture: string;
  onDeploy: (body: { osystem: string; distro_series: string }) => Promise<void>;
  onClose: () => void;
}) {
  const { data } = useLoad(async () => {
    const [images, settings] = await Promise.all([
      api<{ items: Image[] }>("GET", "/boot-images").catch(() => ({ items: [] as Image[] })),
      api<{ items: { name: string; value: unknown }[] }>("GET", "/settings").catch(() => ({ items: [] as { name: string; value: unknown }[] })),
    ]);
    const setting = (n: string) => String(settings.items.find((s) => s.name === n)?.value ?? "");
    return { images: images.items, defaultOs: setting("default_osystem"), defaultSeries: setting("default_distro_series") };
  }, []);
  const [os, setOs] = useState("");
  const [series, setSeries] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const first = useRef<HTMLSelectElement>(null);

  // Choices: every OS/release with an image for this machine's architecture, plus the default.
  const choices = new Map<string, Map<string, boolean>>();
  for (const i of data?.images ?? []) {
    if (i.architecture !== architecture) continue;
    const m = choices.get(i.osystem) ?? new Map<string, boolean>();
    m.set(i.series, (m.get(i.series) ?? false) || i.sha256 !== null);
    choices.set(i.osystem, m);
  }
  if (data?.defaultOs) {
    const m = choices.get(data.defaultOs) ?? new Map<string, boolean>();
    if (data.defaultSeries && !m.has(data.defaultSeries)) m.set(data.defaultSeries, false);
    choices.set(data.defaultOs, m);
  }
  useEffect(() => {
    if (!data) return;
    setOs(data.defaultOs);
    setSeries(data.defaultSeries);
    first.current?.focus();
  }, [data]);
  const seriesOf = [...(choices.get(os)?.entries() ?? [])];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onDeploy({ osystem: os, distro_series: series });
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="deploy-title"
        onSubmit={submit}
        onKeyDown={(e) => e.key === "Escape" && !busy && onClose()}
        data-testid="deploy-dialog"
      >
        <h2 id="deploy-title">Deploy {hostname}?</h2>
        <p>The machine's disks are overwritten with a fresh operating system.</p>
        {!data ? (
          <div className="muted">Loading the images…</div>
        ) : (
          <div className="fields stack">
            <label htmlFor="deploy-os">Operating system</label>
            <select
              id="deploy-os"
              ref={first}
              value={os}
              onChange={(e) => {
                setOs(e.target.value);
                setSeries([...(choices.get(e.target.value)?.keys() ?? [])][0] ?? "");
              }}
            >
              {[...choices.keys()].map((o) => (
                <option key={o} value={o}>
                  {o}
                  {o === data.defaultOs ? " (default)" : ""}
                </option>
              ))}
            </select>
            <label htmlFor="deploy-series">Release</label>
            <select id="deploy-series" value={series} onChange={(e) => setSeries(e.target.value)}>
              {seriesOf.map(([s, content]) => (
                <option key={s} value={s}>
                  {s}
                  {os === data.defaultOs && s === data.defaultSeries ? " (default)" : ""}
                  {content ? "" : " (no image content yet)"}
                </option>
              ))}
            </select>
          </div>
        )}
        <ErrorBox error={error} />
        <div className="modal-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={busy || !data || !os || !series}>
            {busy ? "Working…" : "Deploy"}
          </button>
        </div>
      </form>
    </div>
  );
}
