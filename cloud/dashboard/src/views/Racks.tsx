// Rack appliances: connection, version, last seen, pending commands, images held, subnets; live.
// One rack's page adds its services and journal (its last status report), interfaces, image
// cache and credential (rotate, revoke: admin only).
import { useState } from "react";
import { api, isMissingRoute } from "../api";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { ago, bytes, when } from "../format";
import { useLive, useTick } from "../live";
import { can } from "../perms";
import { linkProps } from "../router";
import type { SessionUser } from "../types";
import { useLoad } from "../useLoad";

interface Rack {
  id: string;
  site: string;
  hostname: string;
  version: string;
  connected: boolean;
  last_seen_at: number | null;
  subnets: string[];
  pending_commands: number;
  /** From the rack's last status report: null before the first one. */
  journal_depth?: number | null;
  services?: { name: string; state: "ok" | "failed" | "disabled"; error?: string }[];
  status_at?: number | null;
  /** What the rack's image cache holds, as it reports it (absent on an older region). */
  images?: { present: number; downloading: number; failed: number };
  revoked: boolean;
  interfaces?: { name: string; mac?: string; addresses?: string[] }[];
  config_version?: string | null;
  created_at?: number;
}

interface RackImage {
  sha256: string;
  state: string;
  bytes: number | null;
  total: number | null;
  error: string | null;
  updated_at: number;
  images: { id: number; osystem: string; series: string; architecture: string }[];
}

const SERVICE_LABEL: Record<string, string> = { dhcp: "DHCP", tftp: "TFTP", http: "HTTP boot", dns: "DNS", metadata: "Metadata", power: "BMC power" };

function imagesText(i: Rack["images"]): string {
  if (!i) return "–";
  const parts = [`${i.present} present`];
  if (i.downloading) parts.push(`${i.downloading} downloading`);
  if (i.failed) parts.push(`${i.failed} failed`);
  return parts.join(" · ");
}

export function RacksView() {
  const { data: racks, error, reload: load } = useLoad(async () => (await api<{ items: Rack[] }>("GET", "/racks")).items, []);
  // A region without the rack tunnel yet has no /racks: say so plainly rather than as an error.
  const absent = isMissingRoute(error);
  useTick(10_000);
  useLive({ onRacks: load, onEvent: (e) => e.type.startsWith("rack.") && load(), onResync: load });

  return (
    <div>
      <header className="page-head">
        <h1>Racks</h1>
      </header>
      <ErrorBox error={absent ? null : error} onRetry={load} />
      {absent && <Empty>This region does not serve rack appliances yet (no /api/v1/racks).</Empty>}
      {racks && racks.length === 0 && (
        <Empty>No rack appliances enrolled. Create an enrolment token and run `npx plinth-appliance enrol` on the site (see docs/operations.md).</Empty>
      )}
      {racks && racks.length > 0 && (
        <table className="grid" data-testid="racks">
          <TableHead columns={["Rack", "Site", "Connection", "Version", "Last seen", "Pending commands", "Journal", "Images", "Subnets served"]} />
          <tbody>
            {racks.map((r) => (
              <tr key={r.id}>
                <td>
                  <a {...linkProps(`/racks/${r.id}`)}>
                    <strong>{r.hostname}</strong>
                  </a>
                  <div className="sub mono">{r.id}</div>
                </td>
                <td>{r.site}</td>
                <td>
                  <Connection rack={r} />
                </td>
                <td className="mono">{r.version || "–"}</td>
                <td>{ago(r.last_seen_at)}</td>
                <td className="num">{r.pending_commands}</td>
                <td className="num">{r.journal_depth ?? "–"}</td>
                <td className="small">{imagesText(r.images)}</td>
                <td className="mono small">{r.subnets.join(", ") || "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Connection({ rack: r }: { rack: Rack }) {
  return (
    <span className={`power power-${r.revoked ? "error" : r.connected ? "on" : "off"}`}>
      <span className="dot" />
      {r.revoked ? "revoked" : r.connected ? "connected" : "disconnected"}
    </span>
  );
}

export function RackDetail({ rackId, user }: { rackId: string; user: SessionUser }) {
  const { data, error, reload } = useLoad(async () => {
    const [rack, images] = await Promise.all([
      api<Rack>("GET", `/racks/${rackId}`),
      api<{ items: RackImage[] }>("GET", `/racks/${rackId}/images`).catch(() => ({ items: [] as RackImage[] })),
    ]);
    return { rack, images: images.items };
  }, [rackId]);
  const [notice, setNotice] = useState("");
  const [actionError, setActionError] = useState<unknown>(null);
  useTick(10_000);
  useLive({ onRacks: reload, onEvent: (e) => e.type.startsWith("rack.") && reload(), onResync: reload });
  const r = data?.rack;
  if (error && !r) return <ErrorBox error={error} onRetry={reload} />;
  if (!r) return <div className="muted">Loading…</div>;
  const admin = can(user, "rack.manage", r.site);
  const rotate = async () => {
    setActionError(null);
    try {
      await api("POST", `/racks/${rackId}/rotate`, {});
      setNotice("Rotation started: the rack takes its new credential over its tunnel.");
    } catch (e) {
      setActionError(e);
    }
  };
  return (
    <div className="detail">
      <div className="crumbs">
        <a {...linkProps("/racks")}>Racks</a> / {r.hostname}
      </div>
      <header className="page-head">
        <h1>
          {r.hostname} <span className="muted small">{r.id}</span>
        </h1>
        <div data-testid="rack-connection">
          <Connection rack={r} />
        </div>
      </header>
      <ErrorBox error={actionError} />
      {notice && <div className="notice">{notice}</div>}
      {admin && !r.revoked && (
        <div className="actions" data-testid="rack-actions">
          <button type="button" onClick={rotate}>
            Rotate credential
          </button>
          <DangerButton
            label="Revoke"
            title={`Revoke rack ${r.hostname}?`}
            body="Its credential stops working and its tunnel closes at once. The machines of its site get no DHCP, boot or power from it until a rack is enrolled again."
            run={() =>
              api("POST", `/racks/${rackId}/revoke`, {}).then(() => {
                setNotice("");
                return reload();
              }, setActionError)
            }
          />
        </div>
      )}
      <div className="cards">
        <section className="card">
          <h2>Appliance</h2>
          <dl>
            <dt>Site</dt>
            <dd>{r.site}</dd>
            <dt>Version</dt>
            <dd className="mono">{r.version || "–"}</dd>
            <dt>Last seen</dt>
            <dd title={r.last_seen_at ? when(r.last_seen_at) : undefined}>{ago(r.last_seen_at)}</dd>
            <dt>Enrolled</dt>
            <dd>{r.created_at ? when(r.created_at) : "–"}</dd>
            <dt>Configuration</dt>
            <dd className="mono">{r.config_version || "not sent yet"}</dd>
            <dt>Pending commands</dt>
            <dd>{r.pending_commands}</dd>
            <dt>Journal</dt>
            <dd data-testid="rack-journal">
              {r.journal_depth == null ? "no report yet" : `${r.journal_depth} event${r.journal_depth === 1 ? "" : "s"} not yet acknowledged`}
              {r.status_at ? <span className="muted small"> · reported {ago(r.status_at)}</span> : null}
            </dd>
            <dt>Subnets served</dt>
            <dd className="mono">{r.subnets.join(", ") || "–"}</dd>
          </dl>
        </section>
        <section className="card" data-testid="rack-services">
          <h2>Services</h2>
          {(r.services ?? []).length === 0 ? (
            <div className="empty">No status report from the rack yet.</div>
          ) : (
            <table className="grid compact">
              <TableHead columns={["Service", "State"]} />
              <tbody>
                {(r.services ?? []).map((s) => (
                  <tr key={s.name}>
                    <td>{SERVICE_LABEL[s.name] ?? s.name}</td>
                    <td>
                      <span className={`power power-${s.state === "ok" ? "on" : s.state === "failed" ? "error" : "off"}`}>
                        <span className="dot" />
                        {s.state}
                      </span>
                      {s.error && <div className="sub">{s.error}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {!r.connected && (r.services ?? []).length > 0 && <div className="muted small">As last reported: the rack is not connected now.</div>}
        </section>
        <section className="card">
          <h2>Interfaces</h2>
          {(r.interfaces ?? []).length === 0 ? (
            <div className="empty">None reported.</div>
          ) : (
            <table className="grid compact">
              <TableHead columns={["Name", "MAC", "Addresses"]} />
              <tbody>
                {(r.interfaces ?? []).map((i) => (
                  <tr key={i.name}>
                    <td>{i.name}</td>
                    <td className="mono">{i.mac ?? "–"}</td>
                    <td className="mono">{i.addresses?.join(", ") || "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <section className="card wide">
        <h2>Image cache</h2>
        {data.images.length === 0 ? (
          <div className="empty">The rack holds no images yet.</div>
        ) : (
          <table className="grid compact">
            <TableHead columns={["Image", "State", "Size", "Updated"]} />
            <tbody>
              {data.images.map((i) => (
                <tr key={i.sha256}>
                  <td>
                    {i.images.map((b) => `${b.osystem}/${b.series} ${b.architecture}`).join(", ") || <span className="mono">{i.sha256.slice(0, 12)}</span>}
                  </td>
                  <td>
                    {i.state}
                    {i.error && <div className="sub">{i.error}</div>}
                  </td>
                  <td>{i.total ? bytes(i.total) : "–"}</td>
                  <td>{ago(i.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
