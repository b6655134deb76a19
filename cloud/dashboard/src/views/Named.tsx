// Sites, zones and resource pools are the same shape (name, description) behind the same routes
// (cloud/routes/named.ts): one section component serves the three, each with its own permission.
import { useState } from "react";
import { api } from "../api";
import type { Permission } from "../../../../shared/roles";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { TextForm } from "../components/forms";
import { ago } from "../format";
import { useLive } from "../live";
import { can } from "../perms";
import type { SessionUser } from "../types";
import { useLoad } from "../useLoad";

interface Named {
  id: number;
  name: string;
  description: string;
  created_at: number;
}

interface Kind {
  path: "zones" | "pools" | "sites";
  title: string;
  what: string;
  /** The event type's noun (`zone.created`). */
  noun: string;
  manage: Permission;
  about: string;
}

const KINDS: Kind[] = [
  { path: "zones", title: "Zones", what: "zone", noun: "zone", manage: "catalog.manage", about: "Failure domains inside a site: a rack row, a power feed." },
  {
    path: "pools",
    title: "Resource pools",
    what: "pool",
    noun: "pool",
    manage: "catalog.manage",
    about: "Who may use which machines: a team's or a project's share.",
  },
  { path: "sites", title: "Sites", what: "site", noun: "site", manage: "site.manage", about: "Data centres, each served by its own rack appliances." },
];

export function NamedView({ user }: { user: SessionUser }) {
  return (
    <div>
      <header className="page-head">
        <h1>Zones, pools & sites</h1>
      </header>
      {KINDS.map((k) => (
        <NamedSection key={k.path} kind={k} user={user} />
      ))}
    </div>
  );
}

function NamedSection({ kind, user }: { kind: Kind; user: SessionUser }) {
  const { data: rows, error, reload } = useLoad(async () => (await api<{ items: Named[] }>("GET", `/${kind.path}`)).items, [kind.path]);
  const [editing, setEditing] = useState<Named | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);
  useLive({ onEvent: (e) => e.type.startsWith(`${kind.noun}.`) && reload(), onResync: reload });
  const manage = can(user, kind.manage, null);
  return (
    <section className="card wide" data-testid={`named-${kind.path}`} aria-labelledby={`named-${kind.path}-title`}>
      <h2 id={`named-${kind.path}-title`}>{kind.title}</h2>
      <p className="muted small">{kind.about}</p>
      <ErrorBox error={error} onRetry={reload} />
      <ErrorBox error={rowError} />
      {manage && (
        <NamedForm
          key={editing?.id ?? "new"}
          kind={kind}
          editing={editing}
          onDone={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
      {rows && rows.length === 0 && <Empty>No {kind.title.toLowerCase()}.</Empty>}
      {rows && rows.length > 0 && (
        <table className="grid compact">
          <TableHead columns={["Name", "Description", "Created", ""]} />
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-name={r.name}>
                <td>
                  <strong>{r.name}</strong>
                </td>
                <td>{r.description || "–"}</td>
                <td>{ago(r.created_at)}</td>
                <td className="row-actions">
                  {manage && (
                    <>
                      <button type="button" onClick={() => setEditing(r)} aria-label={`Edit ${kind.what} ${r.name}`}>
                        Edit
                      </button>
                      <DangerButton
                        label="Delete"
                        title={`Delete ${kind.what} ${r.name}?`}
                        body={`Only an unused ${kind.what} can be deleted; the region says so if something still uses it.`}
                        run={() =>
                          api("DELETE", `/${kind.path}/${r.id}`).then(() => {
                            setRowError(null);
                            reload();
                          }, setRowError)
                        }
                      />
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function NamedForm({ kind, editing, onDone }: { kind: Kind; editing: Named | null; onDone: () => void }) {
  return (
    <TextForm
      label={editing ? `Edit ${kind.what} ${editing.name}` : `New ${kind.what}`}
      idPrefix={kind.path}
      fields={[
        { name: "name", label: editing ? `Name of ${kind.what} ${editing.name}` : `New ${kind.what} name` },
        { name: "description", label: "Description" },
      ]}
      initial={{ name: editing?.name ?? "", description: editing?.description ?? "" }}
      focus="name"
      editing={!!editing}
      submitLabel={editing ? `Save ${kind.what}` : `Create ${kind.what}`}
      submit={(form) => (editing ? api("PATCH", `/${kind.path}/${editing.id}`, form) : api("POST", `/${kind.path}`, form))}
      onDone={onDone}
    />
  );
}
