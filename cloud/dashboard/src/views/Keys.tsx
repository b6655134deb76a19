// The signed-in user's keys: API keys (create, secret shown once; list; revoke), then SSH and
// SSL keys (UserKeys).
import { type FormEvent, useState } from "react";
import { api } from "../api";
import { DangerButton } from "../components/Confirm";
import { ErrorBox, TableHead } from "../components/bits";
import { ago } from "../format";
import type { SessionUser } from "../types";
import { useLoad } from "../useLoad";
import { UserKeys } from "./UserKeys";

interface Key {
  key_id: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export function KeysView({ user }: { user: SessionUser }) {
  const { data: keys, error, setError, reload: load } = useLoad(async () => (await api<{ items: Key[] }>("GET", "/keys")).items, []);
  const [name, setName] = useState("");
  const [fresh, setFresh] = useState<{ api_key: string; maas_api_key: string } | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setFresh(await api("POST", "/keys", { name }));
      setName("");
      load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <header className="page-head">
        <h1>Keys</h1>
        <span className="muted">for {user.username}: the plinth CLI, scripts and MAAS clients</span>
      </header>
      <ErrorBox error={error} onRetry={load} />
      <form className="inline-form" onSubmit={create}>
        <input aria-label="Key name" placeholder="name, e.g. laptop CLI" value={name} onChange={(e) => setName(e.target.value)} maxLength={64} />
        <button type="submit" className="primary">
          Create API key
        </button>
      </form>
      {fresh && (
        <div className="secret" data-testid="new-key">
          <div>Copy these now; they are not shown again.</div>
          <div>
            Plinth: <code>{fresh.api_key}</code>
          </div>
          <div>
            MAAS form: <code>{fresh.maas_api_key}</code>
          </div>
          <div className="muted small">
            <code>
              plinth login {location.origin} {fresh.api_key}
            </code>
          </div>
          <button type="button" className="link" onClick={() => setFresh(null)}>
            Done
          </button>
        </div>
      )}
      <table className="grid compact" data-testid="keys">
        <TableHead columns={["Key id", "Name", "Created", "Last used", "State", ""]} />
        <tbody>
          {keys?.map((k) => (
            <tr key={k.key_id}>
              <td className="mono">plk_{k.key_id}_…</td>
              <td>{k.name || "–"}</td>
              <td>{ago(k.created_at)}</td>
              <td>{ago(k.last_used_at)}</td>
              <td>{k.revoked_at ? `revoked ${ago(k.revoked_at)}` : "active"}</td>
              <td>
                {!k.revoked_at && (
                  <DangerButton
                    label="Revoke"
                    title={`Revoke key ${k.key_id}?`}
                    body="Scripts and CLIs using it (native and MAAS form) stop working at once."
                    run={() => api("DELETE", `/keys/${k.key_id}`).then(load, setError)}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <UserKeys username={user.username} />
    </div>
  );
}
