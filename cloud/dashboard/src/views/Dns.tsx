// DNS: domains (create, make default, delete), the operators' records of the chosen domain
// (create, delete), and the zone a site's racks serve for it, machine and device names included,
// read-only: those follow the machines and are never edited here.
import { type FormEvent, useState } from "react";
import type { DomainJson } from "../../../../shared/dns/domain";
import { api } from "../api";
import { DangerButton } from "../components/Confirm";
import { ErrorBox, TableHead } from "../components/bits";
import { FormError } from "../components/forms";
import { useLive } from "../live";
import { can } from "../perms";
import type { SessionUser } from "../types";
import { useLoad } from "../useLoad";

type Domain = DomainJson;
interface DnsRecord {
  id: number;
  name: string;
  domain: string;
  fqdn: string;
  type: string;
  data: string;
  ttl: number | null;
}

const isDnsEvent = (type: string) => type.startsWith("dns.") || type.startsWith("domain.");

export function DnsView({ user }: { user: SessionUser }) {
  const admin = can(user, "network.manage", null);
  const domains = useLoad(async () => (await api<{ items: Domain[] }>("GET", "/domains")).items, []);
  const [chosen, setChosen] = useState<string | null>(null);
  const current = domains.data?.find((d) => d.name === chosen) ?? domains.data?.find((d) => d.is_default) ?? domains.data?.[0] ?? null;
  const records = useLoad(
    async () => (current ? (await api<{ items: DnsRecord[] }>("GET", `/dns/records?domain=${encodeURIComponent(current.name)}`)).items : []),
    [current?.name],
  );
  useLive({
    onEvent: (e) => {
      if (!isDnsEvent(e.type)) return;
      domains.reload();
      records.reload();
    },
    onResync: () => {
      domains.reload();
      records.reload();
    },
  });
  return (
    <div>
      <header className="page-head">
        <h1>DNS</h1>
        <span className="muted">domains the racks serve; machines' names follow their addresses</span>
      </header>
      <ErrorBox error={domains.error ?? records.error} onRetry={domains.reload} />
      <section aria-labelledby="dns-domains">
        <h2 id="dns-domains">Domains</h2>
        {admin && <DomainForm onDone={domains.reload} />}
        <table className="grid compact" data-testid="domains">
          <TableHead columns={["Domain", "Authoritative", "TTL", "Records", "", ""]} />
          <tbody>
            {domains.data?.map((d) => (
              <tr key={d.id}>
                <td className={d.name === current?.name ? "current-cell" : ""}>
                  <button type="button" className="link" aria-pressed={d.name === current?.name} onClick={() => setChosen(d.name)}>
                    {d.name}
                  </button>
                  {d.is_default && <span className="badge tone-ok tag-gap">default</span>}
                </td>
                <td>{d.authoritative ? "yes" : "no"}</td>
                <td>{d.ttl ?? "region default"}</td>
                <td>{d.resource_record_count}</td>
                <td>
                  {admin && !d.is_default && (
                    <button type="button" onClick={() => api("PATCH", `/domains/${d.id}`, { is_default: true }).then(domains.reload, domains.setError)}>
                      Make default
                    </button>
                  )}
                </td>
                <td>
                  {admin && !d.is_default && (
                    <DangerButton
                      label="Delete"
                      title={`Delete domain ${d.name}?`}
                      body="Its records go with it. A domain a machine or device is in cannot be deleted."
                      run={() => api("DELETE", `/domains/${d.id}`).then(domains.reload, domains.setError)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {current && (
        <section aria-labelledby="dns-records">
          <h2 id="dns-records">Records in {current.name}</h2>
          {admin && <RecordForm domain={current.name} onDone={records.reload} />}
          <table className="grid compact" data-testid="dns-records">
            <TableHead columns={["Name", "Type", "Data", "TTL", ""]} />
            <tbody>
              {records.data?.length === 0 && (
                <tr>
                  <td colSpan={5} className="muted">
                    No records of your own in {current.name}.
                  </td>
                </tr>
              )}
              {records.data?.map((r) => (
                <tr key={r.id}>
                  <td className="mono">{r.fqdn}</td>
                  <td>{r.type}</td>
                  <td className="mono">{r.data}</td>
                  <td>{r.ttl ?? "–"}</td>
                  <td>
                    {admin && (
                      <DangerButton
                        label="Delete"
                        title={`Delete ${r.fqdn} ${r.type}?`}
                        body="The racks stop serving it at once."
                        run={() => api("DELETE", `/dns/records/${r.id}`).then(records.reload, records.setError)}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <ZoneFile domain={current.name} />
        </section>
      )}
    </div>
  );
}

function DomainForm({ onDone }: { onDone: () => void }) {
  const [name, setName] = useState("");
  const [ttl, setTtl] = useState("");
  const [problem, setProblem] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    try {
      await api("POST", "/domains", { name, ...(ttl ? { ttl: Number(ttl) } : {}) });
      setName("");
      setTtl("");
      onDone();
    } catch (err) {
      setProblem(err);
    }
  };
  return (
    <>
      <form className="inline-form" onSubmit={submit}>
        <input
          aria-label="New domain name"
          placeholder="e.g. lab.example.org"
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? "domain-problem" : undefined}
        />
        <input
          aria-label="New domain TTL (seconds)"
          placeholder="TTL (optional)"
          className="small-input"
          inputMode="numeric"
          value={ttl}
          onChange={(e) => setTtl(e.target.value)}
        />
        <button type="submit" className="primary">
          Add domain
        </button>
      </form>
      <FormError id="domain-problem" error={problem} />
    </>
  );
}

const TYPES = ["A", "AAAA", "CNAME", "MX", "SRV", "TXT", "NS"];

function RecordForm({ domain, onDone }: { domain: string; onDone: () => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState("A");
  const [data, setData] = useState("");
  const [problem, setProblem] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    try {
      await api("POST", "/dns/records", { name, domain, type, data });
      setName("");
      setData("");
      onDone();
    } catch (err) {
      setProblem(err);
    }
  };
  return (
    <>
      <form className="inline-form" onSubmit={submit}>
        <input aria-label="Record name" placeholder="name, e.g. www" value={name} onChange={(e) => setName(e.target.value)} />
        <select aria-label="Record type" value={type} onChange={(e) => setType(e.target.value)}>
          {TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <input
          aria-label="Record data"
          placeholder="data, e.g. 192.0.2.10"
          value={data}
          onChange={(e) => setData(e.target.value)}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? "record-problem" : undefined}
        />
        <button type="submit" className="primary">
          Add record
        </button>
      </form>
      <FormError id="record-problem" error={problem} />
    </>
  );
}

/** What a site's racks serve for the domain: derived machine and device names with the operators' own. */
function ZoneFile({ domain }: { domain: string }) {
  const sites = useLoad(async () => (await api<{ items: { name: string }[] }>("GET", "/sites")).items, []);
  const [site, setSite] = useState("default");
  const zone = useLoad(async () => {
    const r = await fetch(`/api/v1/dns/zones/${encodeURIComponent(domain)}/zonefile?site=${encodeURIComponent(site)}`, { credentials: "same-origin" });
    return r.ok ? await r.text() : `; the racks of ${site} serve no zone ${domain} (HTTP ${r.status})`;
  }, [domain, site]);
  useLive({ onEvent: (e) => (isDnsEvent(e.type) ? zone.reload() : undefined) });
  return (
    <details className="zonefile">
      <summary>Zone as served, machines included (read-only)</summary>
      <label className="muted small">
        Site{" "}
        <select value={site} onChange={(e) => setSite(e.target.value)}>
          {(sites.data ?? [{ name: "default" }]).map((s) => (
            <option key={s.name}>{s.name}</option>
          ))}
        </select>
      </label>
      <pre data-testid="zonefile">{zone.data ?? ""}</pre>
    </details>
  );
}
