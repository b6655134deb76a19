// Tags: name, comment, XPath definition, kernel options and the machines each tag is on; create,
// edit, delete for those who may (catalog.manage on every site), live on tag events.
import { useState } from "react";
import { api, qs } from "../api";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { TextForm } from "../components/forms";
import { useLive } from "../live";
import { can } from "../perms";
import { linkProps } from "../router";
import type { Machine, Page, SessionUser } from "../types";
import { useLoad } from "../useLoad";

interface Tag {
  id: number;
  name: string;
  comment: string;
  definition: string;
  kernel_opts: string;
}

const EMPTY = { name: "", comment: "", definition: "", kernel_opts: "" };

export function TagsView({ user }: { user: SessionUser }) {
  const { data: tags, error, reload } = useLoad(async () => (await api<{ items: Tag[] }>("GET", "/tags")).items, []);
  const [open, setOpen] = useState<string | null>(null);
  const [editing, setEditing] = useState<Tag | null>(null);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  useLive({ onEvent: (e) => e.type.startsWith("tag.") && reload(), onResync: reload });
  const manage = can(user, "catalog.manage", null);

  return (
    <div>
      <header className="page-head">
        <h1>Tags</h1>
        <span className="muted small">Machines carry tags; a deployment passes a tag's kernel options to the kernel.</span>
      </header>
      <ErrorBox error={error} onRetry={reload} />
      <ErrorBox error={deleteError} />
      {manage && (
        <TagForm
          key={editing?.name ?? "new"}
          editing={editing}
          onDone={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
      {tags && tags.length === 0 && <Empty>No tags yet.</Empty>}
      {tags && tags.length > 0 && (
        <table className="grid" data-testid="tags">
          <TableHead columns={["Tag", "Comment", "Definition (XPath)", "Kernel options", "Machines", ""]} />
          <tbody>
            {tags.map((t) => (
              <tr key={t.id} data-name={t.name}>
                <td>
                  <strong>{t.name}</strong>
                </td>
                <td>{t.comment || "–"}</td>
                <td className="mono small">{t.definition || "–"}</td>
                <td className="mono small">{t.kernel_opts || "–"}</td>
                <td>
                  <button type="button" className="link" aria-expanded={open === t.name} onClick={() => setOpen(open === t.name ? null : t.name)}>
                    {open === t.name ? "Hide machines" : "Show machines"}
                  </button>
                  {open === t.name && <TagMachines tag={t.name} />}
                </td>
                <td className="row-actions">
                  {manage && (
                    <>
                      <button type="button" onClick={() => setEditing(t)} aria-label={`Edit tag ${t.name}`}>
                        Edit
                      </button>
                      <DangerButton
                        label="Delete"
                        title={`Delete tag ${t.name}?`}
                        body="The tag comes off every machine that has it. Machines themselves are not touched."
                        run={() =>
                          api("DELETE", `/tags/${encodeURIComponent(t.name)}`).then(() => {
                            setDeleteError(null);
                            reload();
                          }, setDeleteError)
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
    </div>
  );
}

function TagForm({ editing, onDone }: { editing: Tag | null; onDone: () => void }) {
  return (
    <TextForm
      label={editing ? `Edit tag ${editing.name}` : "New tag"}
      heading
      className="field-form card"
      idPrefix="tag"
      fields={[
        { name: "name", label: "Name", disabled: !!editing },
        { name: "comment", label: "Comment" },
        { name: "definition", label: "Definition (XPath)", placeholder: "e.g. //node[@class='memory']" },
        { name: "kernel_opts", label: "Kernel options", placeholder: "e.g. console=ttyS0" },
      ]}
      initial={editing ? { name: editing.name, comment: editing.comment, definition: editing.definition, kernel_opts: editing.kernel_opts } : EMPTY}
      focus="comment"
      editing={!!editing}
      submitLabel={editing ? "Save tag" : "Create tag"}
      submit={({ name, ...rest }) => (editing ? api("PATCH", `/tags/${encodeURIComponent(editing.name)}`, rest) : api("POST", "/tags", { name, ...rest }))}
      onDone={onDone}
    />
  );
}

function TagMachines({ tag }: { tag: string }) {
  const { data, error } = useLoad(async () => (await api<Page<Machine>>("GET", `/machines${qs({ tag, limit: "50" })}`)).items, [tag]);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <div className="muted small">Loading…</div>;
  if (data.length === 0) return <div className="muted small">No machines.</div>;
  return (
    <ul className="plain small" data-testid={`tag-machines-${tag}`}>
      {data.map((m) => (
        <li key={m.system_id}>
          <a {...linkProps(`/machines/${m.system_id}`)}>{m.hostname}</a>
        </li>
      ))}
      {data.length === 50 && <li className="muted">… the first 50</li>}
    </ul>
  );
}
