// Users and their roles per site (admin only).
import { type FormEvent, useState } from "react";
import { api, isForbidden } from "../api";
import { ROLES } from "../../../../shared/roles";
import { DangerButton } from "../components/Confirm";
import { ErrorBox, Refused, TableHead } from "../components/bits";
import { ago } from "../format";
import { useLoad } from "../useLoad";

interface User {
  username: string;
  email: string;
  is_active: boolean;
  created_at: number;
  roles: { id: number; role: string; site: string | null }[];
}

export function UsersView() {
  const { data: users, error, setError, reload: load } = useLoad(async () => (await api<{ items: User[] }>("GET", "/users")).items, []);
  const [form, setForm] = useState({ username: "", password: "", role: "viewer", site: "" });
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("POST", "/users", { username: form.username, password: form.password || undefined, roles: [{ role: form.role, site: form.site || null }] });
      setForm({ username: "", password: "", role: "viewer", site: "" });
      load();
    } catch (err) {
      setError(err);
    }
  };
  const grant = async (u: User, role: string, site: string) => {
    await api("POST", `/users/${u.username}/roles`, { role, site: site || null }).then(load, setError);
  };
  if (isForbidden(error)) return <Refused title="Users & roles" error={error} />;
  return (
    <div>
      <header className="page-head">
        <h1>Users & roles</h1>
      </header>
      <ErrorBox error={error} onRetry={load} />
      <form className="inline-form" onSubmit={create}>
        <input aria-label="Username" placeholder="username" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} required />
        <input
          aria-label="Password"
          type="password"
          placeholder="password (8+; optional)"
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
        />
        <select aria-label="Role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <input aria-label="Site" placeholder="site (empty: every site)" value={form.site} onChange={(e) => setForm({ ...form, site: e.target.value })} />
        <button type="submit" className="primary">
          Add user
        </button>
      </form>
      <table className="grid">
        <TableHead columns={["User", "Roles", "Active", "Created", "Grant", ""]} />
        <tbody>
          {users?.map((u) => (
            <tr key={u.username}>
              <td>
                <strong>{u.username}</strong>
                <div className="sub">{u.email}</div>
              </td>
              <td>
                {u.roles.map((r) => (
                  <span key={r.id} className="chip">
                    {r.role} @ {r.site ?? "all sites"}
                    <button
                      type="button"
                      className="x"
                      aria-label={`Revoke ${r.role}`}
                      onClick={() => api("DELETE", `/users/${u.username}/roles/${r.id}`).then(load, setError)}
                    >
                      ×
                    </button>
                  </span>
                ))}
              </td>
              <td>{u.is_active ? "yes" : "no"}</td>
              <td>{ago(u.created_at)}</td>
              <td>
                <GrantForm onGrant={(role, site) => grant(u, role, site)} />
              </td>
              <td>
                <DangerButton
                  label="Delete"
                  title={`Delete user ${u.username}?`}
                  body="Their API keys and sessions stop working at once. Machines they own stay allocated."
                  run={() => api("DELETE", `/users/${u.username}`).then(load, setError)}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function GrantForm({ onGrant }: { onGrant: (role: string, site: string) => void }) {
  const [role, setRole] = useState("viewer");
  const [site, setSite] = useState("");
  return (
    <span className="grant">
      <select aria-label="Role to grant" value={role} onChange={(e) => setRole(e.target.value)}>
        {ROLES.map((r) => (
          <option key={r}>{r}</option>
        ))}
      </select>
      <input aria-label="Site to grant" className="small-input" placeholder="site" value={site} onChange={(e) => setSite(e.target.value)} />
      <button type="button" onClick={() => onGrant(role, site.trim())}>
        Grant
      </button>
    </span>
  );
}
