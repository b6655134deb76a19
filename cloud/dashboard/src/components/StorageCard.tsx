// A machine's storage design (GET /machines/{id}/storage): every disk with its partitions, the
// RAID sets, logical volumes and bcache devices built on them, each with its filesystem and
// mount point or what uses it, and what keeps the design from deploying. An operator with
// machine.edit on a Ready or Allocated machine applies a layout here; pieces are designed
// through the API or `plinth machines storage` (docs/storage.md).
import { useState } from "react";
import { api } from "../api";
import { bytes } from "../format";
import type { Filesystem } from "../../../../shared/storage/design";
import type { DesignView } from "../../../../shared/storage/views";
import { ErrorBox, TableHead } from "./bits";

type Fs = Filesystem;

const LAYOUTS = ["flat", "lvm", "bcache", "blank"] as const;
const KIND: Record<string, string> = { disk: "disk", raid: "RAID", logical_volume: "LVM volume", bcache: "bcache" };

function Row({ name, kind, size, what, indent }: { name: string; kind: string; size: number; what: string; indent?: boolean }) {
  return (
    <tr>
      <td className={indent ? "mono indent" : "mono"}>{name}</td>
      <td>{kind}</td>
      <td>{bytes(size)}</td>
      <td>{what}</td>
    </tr>
  );
}

/** The filesystem and mount point, or what uses the device. */
const what = (fs: Fs | null, usedFor: string) => (fs ? `${fs.fstype}${fs.mount_point ? ` on ${fs.mount_point}` : " (not mounted)"}` : usedFor);

export function StorageCard({ systemId, view, editable, onChanged }: { systemId: string; view: DesignView | null; editable: boolean; onChanged: () => void }) {
  const [layout, setLayout] = useState<string>("flat");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!view) return null;
  const apply = async () => {
    setBusy(true);
    setError(null);
    try {
      await api("POST", `/machines/${systemId}/storage/layout`, { layout });
      onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card wide" data-testid="storage">
      <h2>Storage</h2>
      <p>
        Layout <strong data-testid="storage-layout">{view.layout}</strong>
        {view.volume_groups.map((g) => (
          <span key={g.id} className="chip">
            {g.name}: {bytes(g.available_size)} free of {bytes(g.size)}
          </span>
        ))}
      </p>
      {view.problems.length > 0 && (
        <ul className="problems" data-testid="storage-problems">
          {view.problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      <table className="grid compact">
        <TableHead columns={["Device", "Type", "Size", "Filesystem or use"]} />
        <tbody>
          {view.block_devices.flatMap((d) => [
            <Row
              key={d.id}
              name={`${d.name}${d.is_boot ? " (boot)" : ""}`}
              kind={KIND[d.kind] ?? d.kind}
              size={d.size}
              what={what(d.filesystem, d.used_for)}
            />,
            ...d.partitions.map((p) => <Row key={p.id} name={p.name} kind="partition" size={p.size} what={what(p.filesystem, p.used_for)} indent />),
          ])}
        </tbody>
      </table>
      {editable && (
        <div className="inline-form">
          <select aria-label="Storage layout" value={layout} onChange={(e) => setLayout(e.target.value)}>
            {LAYOUTS.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
          <button type="button" disabled={busy} onClick={apply}>
            Apply layout
          </button>
        </div>
      )}
      <ErrorBox error={error} />
    </section>
  );
}
