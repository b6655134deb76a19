// Rack appliances: connection, version, last seen, pending commands, images held, subnets; live.
import { api, isMissingRoute } from "../api";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { ago } from "../format";
import { useLive, useTick } from "../live";
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
  journal_depth?: number;
  /** What the rack's image cache holds, as it reports it (absent on an older region). */
  images?: { present: number; downloading: number; failed: number };
  revoked: boolean;
}

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
                  <strong>{r.hostname}</strong>
                  <div className="sub mono">{r.id}</div>
                </td>
                <td>{r.site}</td>
                <td>
                  <span className={`power power-${r.revoked ? "error" : r.connected ? "on" : "off"}`}>
                    <span className="dot" />
                    {r.revoked ? "revoked" : r.connected ? "connected" : "disconnected"}
                  </span>
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
