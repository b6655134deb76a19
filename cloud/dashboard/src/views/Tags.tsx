// Tags: name, comment, XPath definition, kernel options and the machines each tag is on; create,
// edit, delete for those who may (catalog.manage on every site), live on tag events.
import { type FormEvent, useEffect, useRef, useState } from "react";
import { api, qs } from "../api";
import { DangerButton } from "../components/Confirm";
import { Empty, ErrorBox, TableHead } from "../components/bits";
import { described, Field, FormError, fieldErrors } from "../components/forms";
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
const FIELDS = ["name", "comment", "definition", "kernel_opts"];

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
  const [form, setForm] = useState(editing ? { ...editing } : EMPTY);
  const [error, setError] = useState<unknown>(null);
  const errs = fieldErrors(error);
  // Edit is clicked in a row below: the keyboard's focus follows to the form it opened.
  const firstEditable = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (editing) firstEditable.current?.focus();
  }, [editing]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      if (editing) {
        await api("PATCH", `/tags/${encodeURIComponent(editing.name)}`, {
          comment: form.comment,
          definition: form.definition,
          kernel_opts: form.kernel_opts,
        });
      } else {
        await api("POST", "/tags", { name: form.name, comment: form.comment, definition: form.definition, kernel_opts: form.kernel_opts });
      }
      setError(null);
      setForm(EMPTY);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const input = (name: keyof typeof EMPTY, label: string, extra: { disabled?: boolean; placeholder?: string } = {}) => (
    <Field id={`tag-${name}`} label={label} error={errs[name]}>
      <input
        id={`tag-${name}`}
        ref={name === "comment" ? firstEditable : undefined}
        value={form[name]}
        onChange={(e) => setForm({ ...form, [name]: e.target.value })}
        {...described(`tag-${name}`, errs[name])}
        {...extra}
      />
    </Field>
  );
  return (
    <form className="field-form card" onSubmit={submit} aria-label={editing ? `Edit tag ${editing.name}` : "New tag"}>
      <h2>{editing ? `Edit tag ${editing.name}` : "New tag"}</h2>
      <div className="fields">
        {input("name", "Name", { disabled: !!editing })}
        {input("comment", "Comment")}
        {input("definition", "Definition (XPath)", { placeholder: "e.g. //node[@class='memory']" })}
        {input("kernel_opts", "Kernel options", { placeholder: "e.g. console=ttyS0" })}
      </div>
      <div className="form-actions">
        <button type="submit" className="primary">
          {editing ? "Save tag" : "Create tag"}
        </button>
        {editing && (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        )}
      </div>
      <FormError error={error} fields={FIELDS} />
    </form>
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
