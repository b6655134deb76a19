// Fabrics → VLANs → subnets, each with its utilisation bar; a subnet opens to its IP ranges and
// the addresses in use and by what. Admins create, edit and delete subnets and ranges, and the
// region's own refusal is shown next to the field it is about. One request draws the whole
// list (GET /subnets carries each subnet's counts); a subnet's addresses load when it opens.
import { type FormEvent, type InputHTMLAttributes, useMemo, useRef, useState } from "react";
import { ApiProblem, api, explain, isMissingRoute } from "../api";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { useLive } from "../live";
import { canAnywhere } from "../perms";
import { linkProps } from "../router";
import type { SessionUser } from "../types";
import { useLoad } from "../useLoad";
import type { SubnetListed, SubnetUtilisation, VlanJson } from "../../../../shared/subnets";
import "./networks.css";

type Utilisation = SubnetUtilisation;

type Subnet = SubnetListed;

type Vlan = VlanJson;

interface Fabric {
  id: number;
  name: string;
}

interface Address {
  id: number;
  ip: string | null;
  kind: string;
  interface: string | null;
  mac: string | null;
  machine: string | null;
  hostname: string | null;
  owner: string | null;
  comment: string;
}

/** Audit event types that change what this page shows. */
const NETWORK_EVENT = /^(subnet|iprange|vlan|fabric|ipaddress)\./;

type Errors = Record<string, string>;

/**
 * The region's refusal, placed at the field it names: a validation issue's path, or a message
 * that starts with the field's name ("gateway_ip is outside the subnet"); else at `fallback`.
 */
function fieldErrors(e: unknown, fields: string[], fallback: string): Errors | null {
  // Only refusals of the input itself; a lost session, a role or a region fault is no field's.
  if (!(e instanceof ApiProblem) || (e.code !== "invalid_request" && e.code !== "conflict")) return null;
  const out: Errors = {};
  if (Array.isArray(e.details)) {
    for (const d of e.details as { path?: string; message?: string }[]) {
      const f = fields.find((x) => x === d.path);
      if (f && d.message) out[f] = d.message;
    }
    if (Object.keys(out).length) return out;
  }
  const named = fields.find((f) => e.message.startsWith(`${f} `));
  out[named ?? fallback] = e.message;
  return out;
}

function Field({ id, label, error, ...input }: { id: string; label: string; error?: string | undefined } & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : undefined} {...input} />
      {error && (
        <span className="field-error" id={`${id}-error`} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

function VlanSelect({ id, vlans, value, onChange }: { id: string; vlans: Vlan[]; value: string; onChange: (v: string) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>VLAN</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">none</option>
        {vlans.map((v) => (
          <option key={v.id} value={v.id}>
            {v.fabric} · VLAN {v.vid}
            {v.name ? ` (${v.name})` : ""}
          </option>
        ))}
      </select>
    </div>
  );
}

const fmt = (n: number) => n.toLocaleString("en");

/** Used, dynamic, reserved and free as one bar; its label says the same in words. */
export function UtilisationBar({ cidr, u }: { cidr: string; u: Utilisation | null }) {
  if (!u) return <span className="muted">–</span>;
  const parts = [
    ["used", u.used],
    ["dynamic", u.dynamic],
    ["reserved", u.reserved],
    ["free", u.free],
  ] as const;
  const whole = Math.max(
    1,
    parts.reduce((a, [, n]) => a + n, 0),
  );
  const words = `${cidr}: ${fmt(u.used)} used, ${fmt(u.dynamic)} dynamic, ${fmt(u.reserved)} reserved, ${fmt(u.free)} free of ${fmt(u.usable)} usable`;
  return (
    <div className="ubar" role="img" aria-label={words} title={words} data-testid="ubar">
      {parts.map(([k, n]) => (n > 0 ? <span key={k} className={`ubar-${k}`} style={{ width: `${(100 * n) / whole}%` }} /> : null))}
    </div>
  );
}

export function NetworksView({ user }: { user: SessionUser }) {
  const admin = canAnywhere(user, "network.manage");
  const { data, error, setError, reload } = useLoad(async () => {
    const [f, v, s] = await Promise.all([
      api<{ items: Fabric[] }>("GET", "/fabrics"),
      api<{ items: Vlan[] }>("GET", "/vlans"),
      api<{ items: Subnet[] }>("GET", "/subnets"),
    ]);
    return { fabrics: f.items, vlans: v.items, subnets: s.items };
  }, []);
  const [filter, setFilter] = useState("");
  const [open, setOpen] = useState<number | null>(null);
  const [detailTick, setDetailTick] = useState(0);
  // A burst of events (a range and its subnet, say) costs one reload.
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refresh = () => {
    clearTimeout(pending.current);
    pending.current = setTimeout(() => {
      reload();
      setDetailTick((n) => n + 1);
    }, 200);
  };
  useLive({ onEvent: (e) => NETWORK_EVENT.test(e.type) && refresh(), onResync: refresh });

  const groups = useMemo(() => {
    if (!data) return [];
    const q = filter.trim().toLowerCase();
    const vlanOf = new Map(data.vlans.map((v) => [v.id, v]));
    const byVlan = new Map<number | null, Subnet[]>();
    for (const s of data.subnets) {
      const v = s.vlan_id !== null && vlanOf.has(s.vlan_id) ? s.vlan_id : null;
      const hay = `${s.cidr} ${s.name} ${s.site ?? ""} ${v === null ? "" : vlanOf.get(v)!.fabric}`.toLowerCase();
      if (q && !hay.includes(q)) continue;
      byVlan.set(v, [...(byVlan.get(v) ?? []), s]);
    }
    const out: { key: string; title: string; detail: string; subnets: Subnet[] }[] = [];
    const fabrics = [...data.fabrics].sort((a, b) => a.name.localeCompare(b.name));
    for (const f of fabrics) {
      const vlans = data.vlans.filter((v) => v.fabric === f.name).sort((a, b) => a.vid - b.vid);
      if (!vlans.length && !q) out.push({ key: `f${f.id}`, title: f.name, detail: "no VLANs", subnets: [] });
      for (const v of vlans) {
        const subnets = byVlan.get(v.id) ?? [];
        if (q && !subnets.length) continue;
        out.push({
          key: `v${v.id}`,
          title: `${f.name} › VLAN ${v.vid}${v.name ? ` (${v.name})` : ""}`,
          detail: `MTU ${v.mtu} · DHCP ${v.dhcp_on ? "on" : "off"}`,
          subnets,
        });
      }
    }
    const loose = byVlan.get(null);
    if (loose?.length) out.push({ key: "none", title: "Subnets on no VLAN", detail: "", subnets: loose });
    return out;
  }, [data, filter]);

  if (isMissingRoute(error)) return <Empty>This region serves no networks API yet.</Empty>;
  const shown = groups.reduce((a, g) => a + g.subnets.length, 0);
  return (
    <div className="net-page">
      <header className="page-head">
        <h1>Networks</h1>
        {data && (
          <span className="muted">
            {data.fabrics.length} fabrics · {data.vlans.length} VLANs · {data.subnets.length} subnets
          </span>
        )}
      </header>
      <ErrorBox error={error} onRetry={reload} />
      {admin && data && <AddSubnet vlans={data.vlans} onDone={reload} />}
      <div className="filters">
        <label htmlFor="net-filter" className="sr-only">
          Filter subnets
        </label>
        <input
          id="net-filter"
          className="search"
          type="search"
          placeholder="Filter by CIDR, name, site or fabric"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <span className="ubar-legend" aria-hidden="true">
          <span className="ubar-used" /> used <span className="ubar-dynamic" /> dynamic <span className="ubar-reserved" /> reserved{" "}
          <span className="ubar-free" /> free
        </span>
      </div>
      {data && !groups.length && <Empty>{filter ? "No subnet matches the filter." : "No fabrics, VLANs or subnets yet."}</Empty>}
      {data && groups.length > 0 && (
        <table className="grid compact networks" data-testid="networks">
          <caption className="sr-only">Subnets by fabric and VLAN ({shown} shown)</caption>
          <TableHead columns={["Subnet", "Name", "Site", "Gateway", "Utilisation", "Used / usable", "Ranges"]} />
          {groups.map((g) => (
            <tbody key={g.key}>
              <tr className="net-group">
                <th colSpan={7} scope="colgroup">
                  {g.title} <span className="muted">{g.detail}</span>
                  {!g.subnets.length && <span className="muted"> · no subnets</span>}
                </th>
              </tr>
              {g.subnets.map((s) => (
                <SubnetRows
                  key={s.id}
                  s={s}
                  open={open === s.id}
                  toggle={() => setOpen(open === s.id ? null : s.id)}
                  admin={admin}
                  vlans={data.vlans}
                  tick={detailTick}
                  onChanged={reload}
                  onError={setError}
                />
              ))}
            </tbody>
          ))}
        </table>
      )}
    </div>
  );
}

function SubnetRows(p: {
  s: Subnet;
  open: boolean;
  toggle: () => void;
  admin: boolean;
  vlans: Vlan[];
  tick: number;
  onChanged: () => void;
  onError: (e: unknown) => void;
}) {
  const { s } = p;
  const u = s.utilisation;
  return (
    <>
      <tr data-subnet={s.cidr}>
        <td>
          <button type="button" className="link mono" aria-expanded={p.open} aria-controls={`subnet-${s.id}`} onClick={p.toggle}>
            {s.cidr}
          </button>
        </td>
        <td>{s.name || "–"}</td>
        <td>{s.site ?? "–"}</td>
        <td className="mono">{s.gateway_ip ?? "–"}</td>
        <td>
          <UtilisationBar cidr={s.cidr} u={u} />
        </td>
        <td>{u ? `${fmt(u.used)} / ${fmt(u.usable)}` : "–"}</td>
        <td>{s.ip_ranges.length}</td>
      </tr>
      {p.open && (
        <tr className="net-detail">
          <td colSpan={7} id={`subnet-${s.id}`}>
            <SubnetDetail {...p} />
          </td>
        </tr>
      )}
    </>
  );
}

function SubnetDetail({
  s,
  admin,
  vlans,
  tick,
  onChanged,
  onError,
}: {
  s: Subnet;
  admin: boolean;
  vlans: Vlan[];
  tick: number;
  onChanged: () => void;
  onError: (e: unknown) => void;
}) {
  const addrs = useLoad(async () => (await api<{ items: Address[] }>("GET", `/ip-addresses?subnet=${s.id}`)).items, [s.id, tick]);
  return (
    <div className="net-panel" data-testid="subnet-detail">
      {admin && <EditSubnet s={s} vlans={vlans} onDone={onChanged} onError={onError} />}
      <section aria-label={`IP ranges of ${s.cidr}`}>
        <h3>IP ranges</h3>
        {s.ip_ranges.length === 0 ? (
          <p className="muted">None: the whole subnet is for static and AUTO addresses.</p>
        ) : (
          <table className="grid compact">
            <TableHead columns={["Type", "Start", "End", "Comment", ...(admin ? [""] : [])]} />
            <tbody>
              {s.ip_ranges.map((r) => (
                <tr key={r.id}>
                  <td>
                    <span className={`badge range-${r.type}`}>{r.type}</span>
                  </td>
                  <td className="mono">{r.start_ip}</td>
                  <td className="mono">{r.end_ip}</td>
                  <td>{r.comment || "–"}</td>
                  {admin && (
                    <td>
                      <DangerButton
                        label="Delete range"
                        title={`Delete the ${r.type} range ${r.start_ip}-${r.end_ip}?`}
                        body={
                          r.type === "dynamic" ? "The rack's DHCP stops handing out these addresses." : "These addresses become free for AUTO and static links."
                        }
                        run={() => api("DELETE", `/ip-ranges/${r.id}`).then(onChanged, onError)}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {admin && <AddRange s={s} onDone={onChanged} />}
      </section>
      <section aria-label={`Addresses in use in ${s.cidr}`}>
        <h3>Addresses in use</h3>
        <ErrorBox error={addrs.error} onRetry={addrs.reload} />
        {addrs.data && addrs.data.length === 0 && <p className="muted">None.</p>}
        {addrs.data && addrs.data.length > 0 && (
          <table className="grid compact" data-testid="addresses">
            <TableHead columns={["Address", "Kind", "Held by", "Comment"]} />
            <tbody>
              {addrs.data.map((a) => (
                <tr key={a.id}>
                  <td className="mono">{a.ip ?? "(none yet)"}</td>
                  <td>{a.kind}</td>
                  <td>
                    <HeldBy a={a} />
                  </td>
                  <td>{a.comment || "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {admin && (
        <div className="net-danger">
          <DangerButton
            label="Delete subnet"
            title={`Delete subnet ${s.cidr}?`}
            body="Its IP ranges and the addresses held in it go with it; machines linked to it lose those links."
            run={() => api("DELETE", `/subnets/${s.id}`).then(onChanged, onError)}
          />
        </div>
      )}
    </div>
  );
}

function HeldBy({ a }: { a: Address }) {
  if (a.machine)
    return (
      <>
        machine <a {...linkProps(`/machines/${a.machine}`)}>{a.hostname ?? a.machine}</a>
        {a.interface ? ` (${a.interface})` : ""}
      </>
    );
  if (a.kind === "discovered") return <>discovered{a.mac ? <span className="mono"> {a.mac}</span> : ""}</>;
  if (a.kind === "user_reserved")
    return (
      <>
        {a.mac ? "device" : "reserved"}
        {a.mac ? <span className="mono"> {a.mac}</span> : ""}
        {a.owner ? ` by ${a.owner}` : ""}
      </>
    );
  return <>{a.kind}</>;
}

function AddSubnet({ vlans, onDone }: { vlans: Vlan[]; onDone: () => void }) {
  const [cidr, setCidr] = useState("");
  const [name, setName] = useState("");
  const [site, setSite] = useState("default");
  const [vlan, setVlan] = useState("");
  const [gateway, setGateway] = useState("");
  const [errs, setErrs] = useState<Errors>({});
  const [other, setOther] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const body: Record<string, unknown> = { cidr, name, site };
      if (vlan) body["vlan_id"] = Number(vlan);
      if (gateway) body["gateway_ip"] = gateway;
      await api("POST", "/subnets", body);
      setErrs({});
      setOther(null);
      setCidr("");
      setName("");
      setGateway("");
      onDone();
    } catch (err) {
      const f = fieldErrors(err, ["cidr", "name", "site", "vlan_id", "gateway_ip"], "cidr");
      setErrs(f ?? {});
      setOther(f ? null : err);
    }
  };
  return (
    <form className="net-form" onSubmit={submit} aria-label="Add subnet">
      <Field id="new-cidr" label="CIDR" placeholder="10.0.0.0/24" value={cidr} onChange={(e) => setCidr(e.target.value)} required error={errs["cidr"]} />
      <Field id="new-name" label="Name" value={name} onChange={(e) => setName(e.target.value)} error={errs["name"]} />
      <Field id="new-site" label="Site" value={site} onChange={(e) => setSite(e.target.value)} required error={errs["site"]} />
      <VlanSelect id="new-vlan" vlans={vlans} value={vlan} onChange={setVlan} />
      <Field id="new-gateway" label="Gateway" placeholder="optional" value={gateway} onChange={(e) => setGateway(e.target.value)} error={errs["gateway_ip"]} />
      <button type="submit" className="primary">
        Add subnet
      </button>
      {other ? <ErrorBox error={other} /> : null}
    </form>
  );
}

function EditSubnet({ s, vlans, onDone, onError }: { s: Subnet; vlans: Vlan[]; onDone: () => void; onError: (e: unknown) => void }) {
  const [name, setName] = useState(s.name);
  const [gateway, setGateway] = useState(s.gateway_ip ?? "");
  const [vlan, setVlan] = useState(s.vlan_id === null ? "" : String(s.vlan_id));
  const [errs, setErrs] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const body: Record<string, unknown> = { name };
      if (gateway) body["gateway_ip"] = gateway;
      if (vlan) body["vlan_id"] = Number(vlan);
      await api("PATCH", `/subnets/${s.id}`, body);
      setErrs({});
      setSaved(true);
      onDone();
    } catch (err) {
      const f = fieldErrors(err, ["name", "gateway_ip", "vlan_id"], "name");
      setSaved(false);
      if (f) setErrs(f);
      else onError(err);
    }
  };
  return (
    <form className="net-form" onSubmit={submit} aria-label={`Edit subnet ${s.cidr}`}>
      <Field id={`edit-name-${s.id}`} label="Name" value={name} onChange={(e) => setName(e.target.value)} error={errs["name"]} />
      <Field id={`edit-gateway-${s.id}`} label="Gateway" value={gateway} onChange={(e) => setGateway(e.target.value)} error={errs["gateway_ip"]} />
      <VlanSelect id={`edit-vlan-${s.id}`} vlans={vlans} value={vlan} onChange={setVlan} />
      <button type="submit">Save subnet</button>
      {saved && (
        <span className="muted" role="status">
          Saved.
        </span>
      )}
    </form>
  );
}

function AddRange({ s, onDone }: { s: Subnet; onDone: () => void }) {
  const [type, setType] = useState<"dynamic" | "reserved">("reserved");
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [comment, setComment] = useState("");
  const [errs, setErrs] = useState<Errors>({});
  const [other, setOther] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("POST", "/ip-ranges", { subnet_id: s.id, type, start_ip: start, end_ip: end, comment });
      setErrs({});
      setOther(null);
      setStart("");
      setEnd("");
      setComment("");
      onDone();
    } catch (err) {
      const f = fieldErrors(err, ["start_ip", "end_ip", "comment"], "start_ip");
      setErrs(f ?? {});
      setOther(f ? null : err);
    }
  };
  const id = `range-${s.id}`;
  return (
    <form className="net-form" onSubmit={submit} aria-label={`Add IP range to ${s.cidr}`}>
      <div className="field">
        <label htmlFor={`${id}-type`}>Range type</label>
        <select id={`${id}-type`} value={type} onChange={(e) => setType(e.target.value as "dynamic" | "reserved")}>
          <option value="reserved">reserved</option>
          <option value="dynamic">dynamic</option>
        </select>
      </div>
      <Field id={`${id}-start`} label="Start address" value={start} onChange={(e) => setStart(e.target.value)} required error={errs["start_ip"]} />
      <Field id={`${id}-end`} label="End address" value={end} onChange={(e) => setEnd(e.target.value)} required error={errs["end_ip"]} />
      <Field id={`${id}-comment`} label="Comment" value={comment} onChange={(e) => setComment(e.target.value)} error={errs["comment"]} />
      <button type="submit">Add range</button>
      {other ? <span className="field-error">{explain(other)}</span> : null}
    </form>
  );
}
