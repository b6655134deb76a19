// The machines list: filters in the URL, server-side cursor paging (100 rows a page, so it
// costs the same at 100,000 machines as at 100), sort within the page, bulk actions, and rows
// that refresh live when their machine changes.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { STATUS_NAME } from "../../../../shared/lifecycle";
import { api, explain, qs } from "../api";
import { ConfirmDialog, type ConfirmRequest } from "../components/Confirm";
import { Empty, ErrorBox, PowerBadge, StatusBadge } from "../components/bits";
import { bytes, mib } from "../format";
import { useLive } from "../live";
import { ACTION_LABEL, ACTION_PERMISSION, DESTRUCTIVE, can } from "../perms";
import { linkProps, navigate, useLocation } from "../router";
import type { Machine, Named, Page, SessionUser } from "../types";

const FILTERS = ["status", "site", "zone", "pool", "tag", "owner", "q"] as const;
const BULK = ["power_on", "power_off", "power_cycle", "commission", "release", "mark_broken", "mark_fixed", "abort", "lock", "unlock"];
const POWER = new Set(["power_on", "power_off", "power_cycle", "identify"]);
type SortKey = "hostname" | "status" | "power_state" | "site" | "zone" | "pool" | "owner" | "cpu_count" | "memory" | "storage";

export function MachinesView({ user }: { user: SessionUser }) {
  const { query } = useLocation();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ""])) as Record<(typeof FILTERS)[number], string>;
  const cursor = query.get("cursor") ?? "";
  const [page, setPage] = useState<Page<Machine> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [history, setHistory] = useState<string[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 } | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [bulkResult, setBulkResult] = useState<string>("");
  const [catalog, setCatalog] = useState<{ zones: string[]; pools: string[]; tags: string[]; sites: string[] }>({ zones: [], pools: [], tags: [], sites: [] });
  const listPath = `/machines${qs({ ...filters, cursor, limit: "100" })}`;
  const seq = useRef(0);

  const load = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const p = await api<Page<Machine>>("GET", listPath);
      // A slower earlier request must not overwrite a newer filter's answer.
      if (mine !== seq.current) return;
      setPage(p);
      setError(null);
    } catch (e) {
      if (mine === seq.current) setError(e);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, [listPath]);

  useEffect(() => {
    load();
  }, [load]);

  // Filter suggestions wait for the first page: on a busy region the page matters more.
  const drawn = page !== null;
  useEffect(() => {
    if (!drawn) return;
    const names = async (path: string) => (await api<{ items: Named[] }>("GET", path).catch(() => ({ items: [] }))).items.map((x) => x.name);
    Promise.all([names("/zones"), names("/pools"), names("/tags"), names("/sites")]).then(([zones, pools, tags, sites]) =>
      setCatalog({ zones, pools, tags, sites }),
    );
  }, [drawn]);

  // Live: refetch only the changed rows that are on screen, batched.
  const pending = useRef(new Set<string>());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const onScreen = useRef(new Set<string>());
  onScreen.current = new Set(page?.items.map((m) => m.system_id));
  useLive({
    onEvent: (e) => {
      if (!e.system_id || !onScreen.current.has(e.system_id)) return;
      pending.current.add(e.system_id);
      clearTimeout(timer.current);
      timer.current = setTimeout(async () => {
        const ids = [...pending.current];
        pending.current.clear();
        const fresh = await api<Page<Machine>>("GET", `/machines${qs({ system_id: ids, limit: String(ids.length) })}`).catch(() => null);
        if (!fresh) return;
        const byId = new Map(fresh.items.map((m) => [m.system_id, m]));
        setPage((p) => (p ? { ...p, items: p.items.map((m) => byId.get(m.system_id) ?? m) } : p));
      }, 150);
    },
    onResync: () => load(),
  });

  const setFilter = (k: string, v: string) => {
    const next = new URLSearchParams(query);
    if (v) next.set(k, v);
    else next.delete(k);
    next.delete("cursor");
    setHistory([]);
    setSelected(new Set());
    navigate(`/machines${next.size ? `?${next}` : ""}`, true);
  };
  const goto = (c: string | null, back = false) => {
    const next = new URLSearchParams(query);
    if (c) next.set("cursor", c);
    else next.delete("cursor");
    setHistory((h) => (back ? h.slice(0, -1) : [...h, cursor]));
    setSelected(new Set());
    navigate(`/machines${next.size ? `?${next}` : ""}`);
  };

  const rows = useMemo(() => {
    const items = page?.items ?? [];
    if (!sort) return items;
    const get = (m: Machine) => (sort.key === "status" ? m.status_name : m[sort.key]) ?? "";
    return [...items].sort((a, b) => {
      const x = get(a);
      const y = get(b);
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true })) * sort.dir;
    });
  }, [page, sort]);

  const chosen = rows.filter((m) => selected.has(m.system_id));
  const runBulk = (action: string) => {
    const eligible = chosen.filter((m) => (POWER.has(action) || m.allowed_actions.includes(action)) && can(user, ACTION_PERMISSION[action]!, m.site));
    const skipped = chosen.length - eligible.length;
    const doIt = async () => {
      const failures: string[] = [];
      const warned: string[] = [];
      // A few at a time: enough to be quick, few enough not to swamp the region.
      for (let i = 0; i < eligible.length; i += 8) {
        await Promise.all(
          eligible.slice(i, i + 8).map((m) =>
            api<{ warnings?: string[] }>("POST", `/machines/${m.system_id}/${action}`, {}).then(
              (r) => {
                if (r?.warnings?.length) warned.push(m.hostname);
              },
              (e) => {
                failures.push(`${m.hostname}: ${explain(e)}`);
              },
            ),
          ),
        );
      }
      setBulkResult(
        `${ACTION_LABEL[action]}: ${eligible.length - failures.length} done${skipped ? `, ${skipped} skipped (not allowed now)` : ""}${failures.length ? `, ${failures.length} failed — ${failures.slice(0, 3).join("; ")}` : ""}${warned.length ? `; power not sent for ${warned.length} (no rack on their site: ${warned.slice(0, 3).join(", ")}${warned.length > 3 ? ", …" : ""})` : ""}`,
      );
      setSelected(new Set());
      load();
    };
    setConfirm({
      title: `${ACTION_LABEL[action]} ${eligible.length} machine${eligible.length === 1 ? "" : "s"}?`,
      body: `${eligible
        .map((m) => m.hostname)
        .slice(0, 8)
        .join(
          ", ",
        )}${eligible.length > 8 ? ` and ${eligible.length - 8} more` : ""}.${skipped ? ` ${skipped} selected machine(s) cannot do this now and will be skipped.` : ""}`,
      confirmLabel: ACTION_LABEL[action]!,
      danger: DESTRUCTIVE.has(action),
      run: doIt,
    });
  };

  const header = (key: SortKey, label: string) => (
    <th>
      <button type="button" className="sort" onClick={() => setSort((s) => (s?.key === key ? (s.dir === 1 ? { key, dir: -1 } : null) : { key, dir: 1 }))}>
        {label}
        {sort?.key === key ? (sort.dir === 1 ? " ▲" : " ▼") : ""}
      </button>
    </th>
  );
  const allOnPage = rows.length > 0 && rows.every((m) => selected.has(m.system_id));

  return (
    <div>
      <header className="page-head">
        <h1>Machines</h1>
        <span className="muted">{loading ? "Loading…" : page ? `${page.items.length}${page.next_cursor ? "+" : ""} on this page` : ""}</span>
      </header>
      <div className="filters">
        <SearchBox value={filters.q} onChange={(v) => setFilter("q", v)} />
        <select aria-label="Status" value={filters.status} onChange={(e) => setFilter("status", e.target.value)}>
          <option value="">Any status</option>
          {Object.entries(STATUS_NAME).map(([k, v]) => (
            <option key={k} value={k}>
              {v}
            </option>
          ))}
        </select>
        <ListFilter label="Site" value={filters.site} options={catalog.sites} onChange={(v) => setFilter("site", v)} />
        <ListFilter label="Zone" value={filters.zone} options={catalog.zones} onChange={(v) => setFilter("zone", v)} />
        <ListFilter label="Pool" value={filters.pool} options={catalog.pools} onChange={(v) => setFilter("pool", v)} />
        <ListFilter label="Tag" value={filters.tag} options={catalog.tags} onChange={(v) => setFilter("tag", v)} />
        <ListFilter label="Owner" value={filters.owner} options={[]} onChange={(v) => setFilter("owner", v)} />
        {FILTERS.some((f) => filters[f]) && (
          <button type="button" className="link" onClick={() => navigate("/machines")}>
            Clear filters
          </button>
        )}
      </div>
      {selected.size > 0 && (
        <div className="bulkbar" data-testid="bulkbar">
          <strong>{selected.size} selected</strong>
          {BULK.filter((a) => chosen.some((m) => can(user, ACTION_PERMISSION[a]!, m.site))).map((a) => (
            <button type="button" key={a} className={DESTRUCTIVE.has(a) ? "danger-outline" : ""} onClick={() => runBulk(a)}>
              {ACTION_LABEL[a]}
            </button>
          ))}
        </div>
      )}
      {bulkResult && (
        <div className="notice">
          {bulkResult}{" "}
          <button type="button" className="link" onClick={() => setBulkResult("")}>
            dismiss
          </button>
        </div>
      )}
      <ErrorBox error={error} onRetry={load} />
      <div className="table-wrap">
        <table className="grid" data-testid="machines">
          <thead>
            <tr>
              <th className="check">
                <input
                  type="checkbox"
                  aria-label="Select all on this page"
                  checked={allOnPage}
                  onChange={() => setSelected(allOnPage ? new Set() : new Set(rows.map((m) => m.system_id)))}
                />
              </th>
              {header("hostname", "Hostname")}
              {header("status", "Status")}
              {header("power_state", "Power")}
              {header("site", "Site")}
              {header("zone", "Zone")}
              {header("pool", "Pool")}
              {header("owner", "Owner")}
              {header("cpu_count", "Cores")}
              {header("memory", "RAM")}
              {header("storage", "Storage")}
              <th>Tags</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.system_id} className={selected.has(m.system_id) ? "sel" : ""} data-system-id={m.system_id}>
                <td className="check">
                  <input
                    type="checkbox"
                    aria-label={`Select ${m.hostname}`}
                    checked={selected.has(m.system_id)}
                    onChange={() =>
                      setSelected((s) => {
                        const n = new Set(s);
                        if (n.has(m.system_id)) n.delete(m.system_id);
                        else n.add(m.system_id);
                        return n;
                      })
                    }
                  />
                </td>
                <td>
                  <a {...linkProps(`/machines/${m.system_id}`)} className="host">
                    {m.hostname}
                  </a>
                  <div className="sub">
                    {m.system_id} · {m.boot_mac ?? "no MAC"}
                  </div>
                </td>
                <td>
                  <StatusBadge status={m.status} name={m.status_name} />
                  {m.locked && (
                    <span className="lock" title="locked">
                      {" "}
                      🔒
                    </span>
                  )}
                </td>
                <td>
                  <PowerBadge state={m.power_state} />
                </td>
                <td>{m.site}</td>
                <td>{m.zone}</td>
                <td>{m.pool}</td>
                <td>{m.owner ?? "–"}</td>
                <td className="num">{m.cpu_count || "–"}</td>
                <td className="num">{mib(m.memory)}</td>
                <td className="num">{bytes(m.storage * 1e6)}</td>
                <td className="tags">{m.tags.join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && page.items.length === 0 && <Empty>No machines match these filters.</Empty>}
      </div>
      <div className="pager">
        <button type="button" disabled={!cursor} onClick={() => goto(history[history.length - 1] ?? null, true)}>
          ← Previous
        </button>
        <button type="button" disabled={!page?.next_cursor} onClick={() => goto(page?.next_cursor ?? null)}>
          Next →
        </button>
        <span className="muted small">Sorting orders the current page; filters and paging run on the region.</span>
      </div>
      <ConfirmDialog req={confirm} onClose={() => setConfirm(null)} />
    </div>
  );
}

function SearchBox({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  // Typing should not fire one request per key.
  useEffect(() => {
    if (v === value) return;
    const t = setTimeout(() => onChange(v.trim()), 250);
    return () => clearTimeout(t);
  }, [v, value, onChange]);
  return (
    <input
      type="search"
      className="search"
      aria-label="Search"
      placeholder="Search hostname, MAC or system ID"
      value={v}
      onChange={(e) => setV(e.target.value)}
    />
  );
}

function ListFilter({ label, value, options, onChange }: { label: string; value: string; options: string[]; onChange: (v: string) => void }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  const id = `dl-${label.toLowerCase()}`;
  const commit = () => v.trim() !== value && onChange(v.trim());
  return (
    <>
      <input
        aria-label={label}
        placeholder={label}
        list={id}
        value={v}
        onChange={(e) => {
          setV(e.target.value);
          // Picking from the list commits at once; typing commits on Enter or leaving the field.
          if (options.includes(e.target.value)) onChange(e.target.value);
        }}
        onBlur={commit}
        onKeyDown={(e) => e.key === "Enter" && commit()}
        className="small-input"
      />
      <datalist id={id}>
        {options.slice(0, 500).map((o) => (
          <option key={o} value={o} />
        ))}
      </datalist>
    </>
  );
}
