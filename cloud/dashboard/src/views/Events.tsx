// The audit log, newest first, live at the top, older pages by id.
import { useCallback, useEffect, useState } from "react";
import { api, qs } from "../api";
import { ErrorBox, TableHead } from "../components/bits";
import { ago, when } from "../format";
import { useLive } from "../live";
import { linkProps } from "../router";
import type { Page, RegionEvent } from "../types";

export function EventsView() {
  const [items, setItems] = useState<RegionEvent[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [level, setLevel] = useState("");
  const [type, setType] = useState("");
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(
    async (before?: number) => {
      try {
        const p = await api<Page<RegionEvent>>("GET", `/events${qs({ level, type, before: before ? String(before) : undefined, limit: "100" })}`);
        setItems((xs) => (before ? [...xs, ...p.items] : p.items));
        setNext(p.next_before ?? null);
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
    [level, type],
  );
  useEffect(() => {
    load();
  }, [load]);
  useLive({
    onEvent: (e) => {
      if ((level && e.level !== level) || (type && e.type !== type)) return;
      setItems((xs) => (xs.some((x) => x.id === e.id) ? xs : [e, ...xs]));
    },
    onResync: () => load(),
  });
  return (
    <div>
      <header className="page-head">
        <h1>Events</h1>
      </header>
      <div className="filters">
        <select aria-label="Level" value={level} onChange={(e) => setLevel(e.target.value)}>
          <option value="">Any level</option>
          {["DEBUG", "INFO", "WARNING", "ERROR", "AUDIT"].map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
        <input aria-label="Type" placeholder="type, e.g. machine.deploy" value={type} onChange={(e) => setType(e.target.value.trim())} />
      </div>
      <ErrorBox error={error} onRetry={() => load()} />
      <table className="grid compact" data-testid="events">
        <TableHead columns={["When", "Level", "Type", "Machine", "What", "Who"]} />
        <tbody>
          {items.map((e) => (
            <tr key={e.id}>
              <td title={when(e.created_at)}>{ago(e.created_at)}</td>
              <td>
                <span className={`lvl lvl-${e.level.toLowerCase()}`}>{e.level}</span>
              </td>
              <td className="mono">{e.type}</td>
              <td>{e.system_id ? <a {...linkProps(`/machines/${e.system_id}`)}>{e.hostname ?? e.system_id}</a> : "–"}</td>
              <td>{e.description}</td>
              <td>{e.actor}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {next && (
        <div className="pager">
          <button type="button" onClick={() => load(next)}>
            Older events
          </button>
        </div>
      )}
    </div>
  );
}
