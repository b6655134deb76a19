// The signed-in user's SSH keys (what deployments put on the machines they own) and SSL keys
// (certificates kept for MAAS clients): add by pasting, list, delete.
import { type FormEvent, useState } from "react";
import { api } from "../api";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { ago } from "../format";
import { useLoad } from "../useLoad";

interface SshKey {
  id: string;
  type: string;
  comment: string;
  fingerprint: string;
}
interface SslKey {
  id: number;
  fingerprint: string;
  created_at: number;
}

/** One paste box and a table; `kind` says which list under /users/{me}/. */
function KeyList<K extends { id: string | number; fingerprint: string }>(p: {
  username: string;
  kind: "ssh-keys" | "ssl-keys";
  title: string;
  hint: string;
  placeholder: string;
  columns: string[];
  cells: (k: K) => (string | number)[];
}) {
  const base = `/users/${encodeURIComponent(p.username)}/${p.kind}`;
  const { data: keys, error, setError, reload } = useLoad(async () => (await api<{ items: K[] }>("GET", base)).items, [base]);
  const [text, setText] = useState("");
  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api("POST", base, { key: text.trim() });
      setText("");
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card" data-testid={p.kind}>
      <h2>{p.title}</h2>
      <p className="muted small">{p.hint}</p>
      <ErrorBox error={error} onRetry={reload} />
      <form className="inline-form" onSubmit={add}>
        <textarea
          aria-label={`${p.title}: paste one`}
          placeholder={p.placeholder}
          value={text}
          onChange={(e) => setText(e.target.value)}
          rows={p.kind === "ssl-keys" ? 4 : 2}
          cols={70}
        />
        <button type="submit" className="primary" disabled={!text.trim()}>
          Add
        </button>
      </form>
      {keys && keys.length === 0 ? (
        <Empty>None yet.</Empty>
      ) : (
        <table className="grid compact">
          <TableHead columns={[...p.columns, ""]} />
          <tbody>
            {keys?.map((k) => (
              <tr key={k.id}>
                {p.cells(k).map((c, i) => (
                  <td key={p.columns[i]} className={i === 0 ? "mono" : undefined}>
                    {c}
                  </td>
                ))}
                <td>
                  <DangerButton
                    label="Delete"
                    title={`Delete ${k.fingerprint}?`}
                    body={
                      p.kind === "ssh-keys"
                        ? "Machines deployed from now on will not accept this key; machines already deployed keep it."
                        : "Clients that stored this certificate here will not find it."
                    }
                    run={() => api("DELETE", `${base}/${encodeURIComponent(String(k.id))}`).then(reload, setError)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function UserKeys({ username }: { username: string }) {
  return (
    <>
      <KeyList<SshKey>
        username={username}
        kind="ssh-keys"
        title="SSH keys"
        hint="Machines you deploy accept these keys for their default user."
        placeholder="ssh-ed25519 AAAA… you@laptop (the contents of ~/.ssh/id_ed25519.pub)"
        columns={["Fingerprint", "Type", "Comment"]}
        cells={(k) => [k.fingerprint, k.type, k.comment || "–"]}
      />
      <KeyList<SslKey>
        username={username}
        kind="ssl-keys"
        title="SSL keys"
        hint="X.509 certificates (PEM) kept for MAAS clients (account/prefs/sslkeys)."
        placeholder="-----BEGIN CERTIFICATE-----"
        columns={["SHA-256 fingerprint", "Added"]}
        cells={(k) => [k.fingerprint, ago(k.created_at)]}
      />
    </>
  );
}
