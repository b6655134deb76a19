// The audit log, newest first, live at the top, older pages by id. The filters live in the URL
// (/events?actor=alice&type=machine.), so other pages link to "what happened to this, by whom".
import { useCallback, useEffect, useState } from "react";
import { api, qs } from "../api";
import { ErrorBox, TableHead } from "../components/bits";
import { ago, when } from "../format";
import { useLive } from "../live";
import { linkProps, navigate, useLocation } from "../router";
import type { Page, RegionEvent } from "../types";

export function EventsView() {
  const [items, setItems] = useState<RegionEvent[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const { query } = useLocation();
  const level = query.get("level") ?? "";
  const type = query.get("type") ?? "";
  const actor = query.get("actor") ?? "";
  const machine = query.get("machine") ?? "";
  const setFilter = (name: string, value: string) => {
    const q = new URLSearchParams(query);
    if (value) q.set(name, value);
    else q.delete(name);
    const s = q.toString();
    navigate(`/events${s ? `?${s}` : ""}`, true);
  };
  // Typing in a filter box waits for a pause before it asks the region.
  const [typeDraft, setTypeDraft] = useState(type);
  const [actorDraft, setActorDraft] = useState(actor);
  // A link (an actor's name, the back button) changes the URL under the boxes: follow it.
  useEffect(() => setTypeDraft(type), [type]);
  useEffect(() => setActorDraft(actor), [actor]);
  useEffect(() => {
    const t = setTimeout(() => {
      if (typeDraft !== type) setFilter("type", typeDraft);
      if (actorDraft !== actor) setFilter("actor", actorDraft);
    }, 300);
    return () => clearTimeout(t);
  });
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(
    async (before?: number) => {
      try {
        const p = await api<Page<RegionEvent>>(
          "GET",
          `/events${qs({ level, type, actor, machine, before: before ? String(before) : undefined, limit: "100" })}`,
        );
        setItems((xs) => (before ? [...xs, ...p.items] : p.items));
        setNext(p.next_before ?? null);
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
    [level, type, actor, machine],
  );
  useEffect(() => {
    load();
  }, [load]);
  useLive({
    onEvent: (e) => {
      const typeOk = !type || (type.endsWith(".") ? e.type.startsWith(type) : e.type === type);
      if ((level && e.level !== level) || !typeOk || (actor && e.actor !== actor) || (machine && e.system_id !== machine)) return;
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
        <select aria-label="Level" value={level} onChange={(e) => setFilter("level", e.target.value)}>
          <option value="">Any level</option>
          {["DEBUG", "INFO", "WARNING", "ERROR", "AUDIT"].map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
        <input aria-label="Type" placeholder='type, or a prefix: "machine."' value={typeDraft} onChange={(e) => setTypeDraft(e.target.value.trim())} />
        <input aria-label="Who" placeholder="who, e.g. admin" value={actorDraft} onChange={(e) => setActorDraft(e.target.value.trim())} />
        {machine && (
          <button type="button" className="link" onClick={() => setFilter("machine", "")}>
            Machine {machine} ✕
          </button>
        )}
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
              <td>
                <a {...linkProps(`/events?actor=${encodeURIComponent(e.actor)}`)} title={`Everything ${e.actor} did`}>
                  {e.actor}
                </a>
              </td>
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
