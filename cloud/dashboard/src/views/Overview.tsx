// Per site: machines by status and racks connected or not, refreshed live.
import { useCallback, useRef, useState } from "react";
import { STATUS_NAME, type Status } from "../../../../shared/lifecycle";
import { api, qs } from "../api";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { statusTone } from "../format";
import { useLive } from "../live";
import { linkProps } from "../router";
import { useLoad } from "../useLoad";

interface SiteSummary {
  site: string;
  machines: number;
  statuses: Record<string, number>;
  racks_connected: number;
  racks_disconnected: number;
}

export function Overview() {
  const { data: sites, error, reload: load } = useLoad(async () => (await api<{ sites: SiteSummary[] }>("GET", "/overview")).sites, []);
  const [filter, setFilter] = useState("");
  // Counts change with every transition; at most one reload per two seconds.
  const due = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const soon = useCallback(() => {
    if (due.current) return;
    due.current = setTimeout(() => {
      due.current = undefined;
      load();
    }, 2000);
  }, [load]);
  useLive({ onEvent: (e) => e.to_status !== null && soon(), onRacks: soon, onResync: load });

  const totals: Record<string, number> = {};
  for (const s of sites ?? []) for (const [k, n] of Object.entries(s.statuses)) totals[k] = (totals[k] ?? 0) + n;
  const all = Object.values(totals).reduce((a, b) => a + b, 0);
  const racksUp = (sites ?? []).reduce((a, s) => a + s.racks_connected, 0);
  const racksDown = (sites ?? []).reduce((a, s) => a + s.racks_disconnected, 0);
  const shown = (sites ?? []).filter((s) => s.site.includes(filter)).slice(0, 200);

  return (
    <div>
      <header className="page-head">
        <h1>Fleet overview</h1>
      </header>
      <ErrorBox error={error} onRetry={load} />
      <div className="kpis">
        <div className="kpi">
          <span className="n">{all.toLocaleString()}</span>
          <span>machines</span>
        </div>
        <div className="kpi">
          <span className="n">{(sites?.length ?? 0).toLocaleString()}</span>
          <span>sites</span>
        </div>
        <div className="kpi">
          <span className="n">
            {racksUp}
            <span className="muted"> / {racksUp + racksDown}</span>
          </span>
          <span>racks connected</span>
        </div>
        {Object.entries(totals)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 6)
          .map(([k, n]) => (
            <a key={k} className={`kpi tone-border-${statusTone(Number(k))}`} {...linkProps(`/machines${qs({ status: k })}`)}>
              <span className="n">{n.toLocaleString()}</span>
              <span>{STATUS_NAME[Number(k) as Status]}</span>
            </a>
          ))}
      </div>
      <div className="filters">
        <input type="search" placeholder="Filter sites" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Filter sites" />
        {sites && sites.length > shown.length && (
          <span className="muted small">
            showing {shown.length} of {sites.length} sites
          </span>
        )}
      </div>
      {sites && sites.length === 0 && <Empty>No sites you can see yet.</Empty>}
      <table className="grid" data-testid="sites">
        <TableHead columns={["Site", "Machines", "By status", "Racks"]} />
        <tbody>
          {shown.map((s) => (
            <tr key={s.site}>
              <td>
                <a {...linkProps(`/machines${qs({ site: s.site })}`)} className="host">
                  {s.site}
                </a>
              </td>
              <td className="num">{s.machines.toLocaleString()}</td>
              <td>
                <StatusBar site={s.site} statuses={s.statuses} total={s.machines} />
              </td>
              <td>
                {s.racks_connected + s.racks_disconnected === 0 ? (
                  <span className="muted">none</span>
                ) : (
                  <span>
                    <span className="power power-on">
                      <span className="dot" />
                      {s.racks_connected} up
                    </span>{" "}
                    {s.racks_disconnected > 0 && (
                      <span className="power power-error">
                        <span className="dot" />
                        {s.racks_disconnected} down
                      </span>
                    )}
                  </span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function StatusBar({ site, statuses, total }: { site: string; statuses: Record<string, number>; total: number }) {
  if (!total) return <span className="muted">empty</span>;
  return (
    <div className="stackbar">
      {Object.entries(statuses).map(([k, n]) => (
        <a
          key={k}
          className={`seg tone-${statusTone(Number(k))}`}
          style={{ flexGrow: n }}
          title={`${STATUS_NAME[Number(k) as Status]}: ${n}`}
          {...linkProps(`/machines${qs({ site, status: k })}`)}
        >
          {n / total > 0.12 ? `${STATUS_NAME[Number(k) as Status]} ${n}` : ""}
        </a>
      ))}
    </div>
  );
}
