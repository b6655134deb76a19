import { type FormEvent, useState } from "react";
import { api, explain } from "../api";
import type { SessionUser } from "../types";

export function SignIn({ notice, onSignedIn }: { notice: string; onSignedIn: (u: SessionUser) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      onSignedIn(await api<SessionUser>("POST", "/session", { username, password }));
    } catch (err) {
      setError(explain(err));
      setPassword("");
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="signin">
      <form onSubmit={submit} className="signin-card">
        <div className="brand big">
          <span className="logo">▰</span> Plinth
        </div>
        <p className="muted">Sign in to the region</p>
        {notice && !error && <div className="notice">{notice}</div>}
        {error && (
          <div className="error" role="alert">
            {error}
          </div>
        )}
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="muted small">First start: the admin password is in .plinth/admin.json.</p>
      </form>
    </div>
  );
}
