// One machine: summary, power, actions allowed now (asking first for destructive ones),
// hardware, interfaces, disks, the storage design, commissioning results and the event
// timeline, all live.
import { type FormEvent, useState } from "react";
import { api, explain, qs } from "../api";
import { ConfirmDialog, type ConfirmRequest } from "../components/Confirm";
import { DeployDialog } from "../components/DeployDialog";
import { ErrorBox, PowerBadge, StatusBadge, TableHead } from "../components/bits";
import type { DesignView } from "../../../../shared/storage/views";
import { StorageCard } from "../components/StorageCard";
import { ago, bytes, mib, when } from "../format";
import { useLive, useTick } from "../live";
import { ACTION_LABEL, ACTION_PERMISSION, DESTRUCTIVE, can } from "../perms";
import { linkProps } from "../router";
import type { Machine, Page, RegionEvent, SessionUser } from "../types";
import { useLoad } from "../useLoad";

const POWER_ACTIONS = ["power_on", "power_off", "power_cycle", "identify", "query_power_state"];
const CONSEQUENCE: Record<string, string> = {
  release: "The owner loses the machine; it is powered off and returns to Ready.",
  deploy: "The machine's disks are overwritten with a fresh operating system.",
  abort: "The running operation stops and the machine goes back to its previous state.",
  delete: "The machine and its history of interfaces and disks are removed from the region.",
  power_off: "The machine is switched off at once; anything running on it stops.",
  power_cycle: "The machine is switched off and on again; anything running on it stops.",
  mark_broken: "The machine is taken out of service until someone marks it fixed.",
  commission: "The machine reboots into the commissioning environment; anything running on it stops.",
  rescue_mode: "The machine reboots into the rescue environment.",
};

interface Result {
  id: number;
  name: string;
  status: string;
  exit_code: number | null;
  output: string;
  created_at: number;
}

export function MachineDetail({ systemId, user }: { systemId: string; user: SessionUser }) {
  const [actionError, setActionError] = useState<unknown>(null);
  const [message, setMessage] = useState("");
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [deploying, setDeploying] = useState(false);
  useTick(15_000);

  const {
    data,
    error,
    reload: load,
  } = useLoad(async () => {
    const [machine, ev, rr, storage] = await Promise.all([
      api<Machine>("GET", `/machines/${systemId}`),
      api<Page<RegionEvent>>("GET", `/events${qs({ machine: systemId, limit: "50" })}`).catch(() => ({ items: [] as RegionEvent[] })),
      api<{ items: Result[] }>("GET", `/machines/${systemId}/results`).catch(() => ({ items: [] as Result[] })),
      api<DesignView>("GET", `/machines/${systemId}/storage`).catch(() => null),
    ]);
    return { machine, events: ev.items, results: rr.items, storage };
  }, [systemId]);
  const m = data?.machine;
  const events = data?.events ?? [];
  const results = data?.results ?? [];
  useLive({ onEvent: (e) => e.system_id === systemId && load(), onResync: load });

  if (error && !m) return <ErrorBox error={error} onRetry={load} />;
  if (!m) return <div className="muted">Loading…</div>;

  /** Runs an action; its failure is thrown to the caller (the deploy dialog shows it in place). */
  const send = async (action: string, body: Record<string, unknown>) => {
    setActionError(null);
    setMessage("");
    const r = await api<{ message?: string } | (Machine & { warnings?: string[] })>("POST", `/machines/${systemId}/${action}`, body);
    if (r && "warnings" in r && r.warnings?.length) setMessage(`Warning: ${r.warnings.join(" ")}`);
    else if (r && "message" in r && r.message) setMessage(r.message);
    else if (POWER_ACTIONS.includes(action)) setMessage(`${ACTION_LABEL[action]} sent to the rack; the power state updates here when it answers.`);
    await load();
  };
  const act = (action: string) => {
    const run = () => send(action, {}).catch(setActionError);
    if (action === "deploy") {
      setDeploying(true);
    } else if (DESTRUCTIVE.has(action)) {
      setConfirm({
        title: `${ACTION_LABEL[action]} ${m.hostname}?`,
        body: CONSEQUENCE[action] ?? "This cannot be undone.",
        confirmLabel: ACTION_LABEL[action]!,
        danger: true,
        run,
      });
    } else {
      run();
    }
  };
  const allowed = (a: string) => can(user, ACTION_PERMISSION[a]!, m.site);
  const lifecycle = m.allowed_actions.filter((a) => ACTION_PERMISSION[a] && allowed(a) && a !== "delete");

  return (
    <div className="detail">
      <div className="crumbs">
        <a {...linkProps("/machines")}>Machines</a> / {m.hostname}
      </div>
      <header className="page-head">
        <h1>
          {m.hostname}
          <span className="muted small">
            {" "}
            {m.fqdn} · {m.system_id}
          </span>
        </h1>
        <div className="head-status" data-testid="status">
          <StatusBadge status={m.status} name={m.status_name} />
          {m.status_message && <span className="muted small"> {m.status_message}</span>}
        </div>
      </header>
      <ErrorBox error={actionError} />
      {message && <div className="notice">{message}</div>}
      <div className="actions" data-testid="actions">
        {lifecycle.map((a) => (
          <button type="button" key={a} className={DESTRUCTIVE.has(a) ? "danger-outline" : ""} onClick={() => act(a)}>
            {ACTION_LABEL[a] ?? a}
          </button>
        ))}
        {lifecycle.length === 0 && <span className="muted small">No lifecycle actions for you in this state.</span>}
      </div>
      <div className="cards">
        <section className="card">
          <h2>Summary</h2>
          <dl>
            <dt>Site</dt>
            <dd>{m.site}</dd>
            <dt>Zone / pool</dt>
            <dd>
              {m.zone} / {m.pool}
            </dd>
            <dt>Owner</dt>
            <dd>{m.owner ?? "–"}</dd>
            <dt>OS</dt>
            <dd>{m.osystem ? `${m.osystem} ${m.distro_series}` : "–"}</dd>
            <dt>Tags</dt>
            <dd data-testid="machine-tags">
              <MachineTags systemId={systemId} tags={m.tags} editable={can(user, "machine.edit", m.site)} onChanged={load} onError={setActionError} />
            </dd>
            <dt>Locked</dt>
            <dd>{m.locked ? "yes" : "no"}</dd>
            <dt>Rack</dt>
            <dd>{m.rack_id ?? "–"}</dd>
            <dt>Last boot</dt>
            <dd data-testid="machine-boot-rack">
              {m.boot_rack ? (
                <>
                  served by <a {...linkProps(`/racks/${m.boot_rack.id}`)}>{m.boot_rack.hostname ?? m.boot_rack.id}</a>{" "}
                  <span title={when(m.boot_rack.at)}>{ago(m.boot_rack.at)}</span>
                </>
              ) : (
                "–"
              )}
            </dd>
          </dl>
        </section>
        <section className="card">
          <h2>Power</h2>
          <div className="power-big" data-testid="power">
            <PowerBadge state={m.power_state} />
            <span className="muted small"> checked {ago(m.power_checked_at)}</span>
          </div>
          <dl>
            <dt>Driver</dt>
            <dd>{m.power_type}</dd>
            <dt>Settings</dt>
            <dd>{m.power_parameters_set.length ? `${m.power_parameters_set.join(", ")} (set)` : "none"}</dd>
          </dl>
          <div className="actions">
            {POWER_ACTIONS.filter(allowed).map((a) => (
              <button type="button" key={a} className={DESTRUCTIVE.has(a) ? "danger-outline" : ""} onClick={() => act(a)}>
                {ACTION_LABEL[a]}
              </button>
            ))}
          </div>
        </section>
        <section className="card">
          <h2>Hardware</h2>
          <dl>
            <dt>CPU</dt>
            <dd>
              {m.cpu_count || "?"} cores · {m.cpu_model || "unknown model"}
              {m.cpu_speed ? ` @ ${(m.cpu_speed / 1000).toFixed(1)} GHz` : ""}
            </dd>
            <dt>Memory</dt>
            <dd>{mib(m.memory)}</dd>
            <dt>Storage</dt>
            <dd>{bytes(m.storage * 1e6)}</dd>
            <dt>Architecture</dt>
            <dd>{m.architecture}</dd>
            <dt>Firmware</dt>
            <dd>{m.firmware}</dd>
            <dt>Description</dt>
            <dd>{m.description || "–"}</dd>
          </dl>
        </section>
      </div>
      <section className="card wide">
        <h2>Interfaces</h2>
        <table className="grid compact">
          <TableHead columns={["Name", "MAC", "IP", "Mode", "Driver", "Speed", "Link"]} />
          <tbody>
            {(m.interfaces ?? []).map((i) => (
              <tr key={i.id}>
                <td>
                  {i.name}
                  {i.is_boot && <span className="chip">boot</span>}
                </td>
                <td className="mono">{i.mac}</td>
                <td className="mono">{i.ip_address ?? "–"}</td>
                <td>{i.link_mode}</td>
                <td>{i.driver || "–"}</td>
                <td>{i.speed_mbps ? `${i.speed_mbps / 1000} Gb/s` : "–"}</td>
                <td>{i.link_connected ? "up" : "down"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card wide">
        <h2>Disks</h2>
        <table className="grid compact">
          <TableHead columns={["Name", "Model", "Serial", "Size", "Type"]} />
          <tbody>
            {(m.block_devices ?? []).map((d) => (
              <tr key={d.id}>
                <td>
                  {d.name}
                  {d.is_boot && <span className="chip">boot</span>}
                </td>
                <td>{d.model || "–"}</td>
                <td className="mono">{d.serial || "–"}</td>
                <td>{bytes(d.size)}</td>
                <td>{d.rotational ? "HDD" : "SSD"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {(m.block_devices ?? []).length === 0 && <div className="empty">No disks known yet: commission the machine to find them.</div>}
      </section>
      {(m.block_devices ?? []).length > 0 && (
        <StorageCard
          systemId={systemId}
          view={data?.storage ?? null}
          editable={can(user, "machine.edit", m.site) && (m.status_name === "Ready" || m.status_name === "Allocated")}
          onChanged={load}
        />
      )}
      <section className="card wide">
        <h2>Commissioning results</h2>
        {results.length === 0 ? (
          <div className="empty">No commissioning results yet.</div>
        ) : (
          <table className="grid compact">
            <tbody>
              {results.map((r) => (
                <tr key={r.id}>
                  <td>{r.name}</td>
                  <td>
                    <span className={`badge tone-${r.status === "passed" ? "ok" : r.status === "running" ? "busy" : "bad"}`}>{r.status}</span>
                  </td>
                  <td>{r.exit_code ?? "–"}</td>
                  <td>{when(r.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="card wide">
        <h2>Events</h2>
        {can(user, "machine.comment", m.site) && <CommentForm systemId={systemId} onDone={load} onError={setActionError} />}
        <ol className="timeline" data-testid="timeline">
          {events.map((e) => (
            <li key={e.id} className={`lvl-${e.level.toLowerCase()}`}>
              <span className="t" title={when(e.created_at)}>
                {ago(e.created_at)}
              </span>
              <span className="type">{e.type}</span>
              <span>{e.description}</span>
              <span className="muted small">by {e.actor}</span>
            </li>
          ))}
        </ol>
        {events.length === 0 && <div className="empty">No events.</div>}
      </section>
      <ConfirmDialog req={confirm} onClose={() => setConfirm(null)} />
      {deploying && (
        <DeployDialog hostname={m.hostname} architecture={m.architecture} onDeploy={(body) => send("deploy", body)} onClose={() => setDeploying(false)} />
      )}
      {error ? <div className="muted small">Last refresh failed: {explain(error)}</div> : null}
    </div>
  );
}

/** A note in the machine's event log: what remote hands saw or did on site. */
function CommentForm({ systemId, onDone, onError }: { systemId: string; onDone: () => void; onError: (e: unknown) => void }) {
  const [text, setText] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    try {
      await api("POST", `/machines/${systemId}/comment`, { text: text.trim() });
      setText("");
      onDone();
    } catch (err) {
      onError(err);
    }
  };
  return (
    <form className="inline-form" onSubmit={submit}>
      <input
        aria-label="Note"
        className="search"
        placeholder="Add a note, e.g. replaced PSU B"
        value={text}
        onChange={(e) => setText(e.target.value)}
        maxLength={4096}
      />
      <button type="submit">Add note</button>
    </form>
  );
}

/** The machine's tags: each removable, and any existing tag addable (POST /tags/:name/machines). */
function MachineTags({
  systemId,
  tags,
  editable,
  onChanged,
  onError,
}: {
  systemId: string;
  tags: string[];
  editable: boolean;
  onChanged: () => void;
  onError: (e: unknown) => void;
}) {
  const [name, setName] = useState("");
  const { data: known } = useLoad(
    async () => (editable ? (await api<{ items: { name: string }[] }>("GET", "/tags")).items.map((t) => t.name) : []),
    [editable],
  );
  const change = async (tag: string, add: boolean) => {
    try {
      await api("POST", `/tags/${encodeURIComponent(tag)}/machines`, add ? { add: [systemId] } : { remove: [systemId] });
      onError(null);
      if (add) setName("");
      onChanged();
    } catch (e) {
      onError(e);
    }
  };
  return (
    <>
      {tags.length === 0 && "–"}
      {tags.map((t) => (
        <span key={t} className="chip">
          {t}
          {editable && (
            <button type="button" className="x" aria-label={`Remove tag ${t}`} onClick={() => change(t, false)}>
              ×
            </button>
          )}
        </span>
      ))}
      {editable && (
        <form
          className="tag-editor"
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim()) change(name.trim(), true);
          }}
        >
          <input aria-label="Tag to add" className="small-input" list="known-tags" placeholder="tag" value={name} onChange={(e) => setName(e.target.value)} />
          <datalist id="known-tags">
            {(known ?? [])
              .filter((k) => !tags.includes(k))
              .map((k) => (
                <option key={k} value={k} />
              ))}
          </datalist>
          <button type="submit">Add tag</button>
        </form>
      )}
    </>
  );
}
