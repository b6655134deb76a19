// Enrolment tokens: create (the token is shown once, with a copy button), list, revoke.
import { type FormEvent, useState } from "react";
import { api, isForbidden, isMissingRoute } from "../api";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, Refused, TableHead } from "../components/bits";
import { ago, when } from "../format";
import { useLoad } from "../useLoad";

interface Token {
  id: number;
  site: string;
  name: string;
  prefix: string;
  expires_at: number;
  uses_left: number | null;
  used_count?: number;
  created_at: number;
  state: string;
}

export function TokensView() {
  const { data: items, error, setError, reload: load } = useLoad(async () => (await api<{ items: Token[] }>("GET", "/racks/enrol-tokens")).items, []);
  const [site, setSite] = useState("default");
  const [name, setName] = useState("");
  const [hours, setHours] = useState("24");
  const [uses, setUses] = useState("");
  const [fresh, setFresh] = useState<{ token: string; site: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const body: Record<string, unknown> = { site, name, expires_in: Math.round(Number(hours) * 3600) };
      if (uses) body["uses"] = Number(uses);
      const t = await api<{ token: string; site: string }>("POST", "/racks/enrol-tokens", body);
      setFresh(t);
      setCopied(false);
      setError(null);
      load();
    } catch (err) {
      setError(err);
    }
  };
  if (isMissingRoute(error)) return <Empty>This region does not issue enrolment tokens yet (no /api/v1/racks/enrol-tokens).</Empty>;
  if (isForbidden(error)) return <Refused title="Enrolment tokens" error={error} />;
  return (
    <div>
      <header className="page-head">
        <h1>Enrolment tokens</h1>
      </header>
      <ErrorBox error={error} onRetry={load} />
      <form className="inline-form" onSubmit={create}>
        <input aria-label="Site" placeholder="site" value={site} onChange={(e) => setSite(e.target.value)} required />
        <input aria-label="Name" placeholder="name (optional)" value={name} onChange={(e) => setName(e.target.value)} />
        <label className="small">
          valid for <input aria-label="Hours" className="tiny" type="number" min="1" value={hours} onChange={(e) => setHours(e.target.value)} /> h
        </label>
        <input aria-label="Uses" className="tiny" type="number" min="1" placeholder="uses ∞" value={uses} onChange={(e) => setUses(e.target.value)} />
        <button type="submit" className="primary">
          Create token
        </button>
      </form>
      {fresh && (
        <div className="secret" data-testid="new-token">
          <div>
            New token for <strong>{fresh.site}</strong>. It is shown only this once:
          </div>
          <code>{fresh.token}</code>
          <button
            type="button"
            onClick={() => {
              navigator.clipboard?.writeText(fresh.token).then(
                () => setCopied(true),
                () => setCopied(false),
              );
            }}
          >
            {copied ? "Copied" : "Copy"}
          </button>
          <button type="button" className="link" onClick={() => setFresh(null)}>
            I have stored it
          </button>
        </div>
      )}
      {items && items.length === 0 && <Empty>No enrolment tokens.</Empty>}
      {items && items.length > 0 && (
        <table className="grid compact">
          <TableHead columns={["Token", "Site", "Name", "State", "Expires", "Uses left", "Created", ""]} />
          <tbody>
            {items.map((t) => (
              <tr key={t.id}>
                <td className="mono">{t.prefix}…</td>
                <td>{t.site}</td>
                <td>{t.name || "–"}</td>
                <td>
                  <span className={`badge tone-${t.state === "active" ? "ok" : "idle"}`}>{t.state}</span>
                </td>
                <td>{when(t.expires_at)}</td>
                <td>{t.uses_left ?? "∞"}</td>
                <td>{ago(t.created_at)}</td>
                <td>
                  {t.state === "active" && (
                    <DangerButton
                      label="Revoke"
                      title={`Revoke token ${t.prefix}…?`}
                      body="Racks that have not enrolled with it yet will be refused. Racks already enrolled keep their own credentials."
                      run={() => api("DELETE", `/racks/enrol-tokens/${t.id}`).then(load, setError)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
