// Form fields with a visible label and the region's answer about them right beside them: a
// validation failure names the field (its `path`), so its message goes under that field; any
// other refusal (a name taken, a role too small) goes under the form's button.
import { type FormEvent, type ReactNode, useEffect, useRef, useState } from "react";
import { ApiProblem, explain } from "../api";

/** The region's message per field name, from a 400's details; empty for any other failure. */
export function fieldErrors(e: unknown): Record<string, string> {
  if (!(e instanceof ApiProblem) || e.code !== "invalid_request" || !Array.isArray(e.details)) return {};
  const out: Record<string, string> = {};
  for (const d of e.details as { path?: string; message?: string }[]) {
    const key = String(d.path ?? "").split(".")[0] ?? "";
    if (key && d.message) out[key] = out[key] ? `${out[key]}; ${d.message}` : d.message;
  }
  return out;
}

/**
 * A failure no field is named in: shown once for the whole form. `id` lets a control point at
 * it (aria-describedby) when the form's only input is the one it is about.
 */
export function FormError({ error, fields = [], id }: { error: unknown; fields?: string[]; id?: string }) {
  if (!error) return null;
  const named = fieldErrors(error);
  if (fields.some((f) => named[f])) return null;
  return (
    <div className="field-error" role="alert" id={id}>
      {explain(error)}
    </div>
  );
}

export function Field({
  id,
  label,
  error,
  children,
}: {
  /** The control's id: the label points at it and the message describes it. */
  id: string;
  label: string;
  error?: string | undefined;
  children: ReactNode;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {error && (
        <div className="field-error" id={`${id}-error`} role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

/** aria props for a control whose field may carry an error. */
export const described = (id: string, error: string | undefined) => (error ? { "aria-invalid": true as const, "aria-describedby": `${id}-error` } : {});

export interface TextFieldSpec<K extends string> {
  name: K;
  label: string;
  disabled?: boolean;
  placeholder?: string;
}

/**
 * A create-or-edit form of text fields, each with its label and the region's message about it:
 * the catalog pages' (tags; zones, pools and sites). The parent remounts it (a `key`) to switch
 * between creating and editing; when editing, the keyboard's focus goes to `focus`, since Edit
 * was pressed in a row below.
 */
export function TextForm<K extends string>({
  label,
  heading = false,
  className = "field-form",
  idPrefix,
  fields,
  initial,
  focus,
  editing,
  submitLabel,
  submit,
  onDone,
}: {
  /** The form's accessible name (and its heading when `heading`). */
  label: string;
  heading?: boolean;
  className?: string;
  idPrefix: string;
  fields: TextFieldSpec<K>[];
  initial: Record<K, string>;
  focus: K;
  editing: boolean;
  submitLabel: string;
  submit: (values: Record<K, string>) => Promise<unknown>;
  onDone: () => void;
}) {
  const [form, setForm] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  const errs = fieldErrors(error);
  const id = (f: K) => `${idPrefix}-${f}`;
  const focused = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (editing) focused.current?.focus();
  }, [editing]);
  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await submit(form);
      setError(null);
      setForm(Object.fromEntries(fields.map((f) => [f.name, ""])) as Record<K, string>);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className={className} onSubmit={onSubmit} aria-label={label}>
      {heading && <h2>{label}</h2>}
      <div className="fields">
        {fields.map((f) => (
          <Field key={f.name} id={id(f.name)} label={f.label} error={errs[f.name]}>
            <input
              id={id(f.name)}
              ref={f.name === focus ? focused : undefined}
              value={form[f.name]}
              onChange={(e) => setForm({ ...form, [f.name]: e.target.value })}
              disabled={f.disabled}
              placeholder={f.placeholder}
              {...described(id(f.name), errs[f.name])}
            />
          </Field>
        ))}
      </div>
      <div className="form-actions">
        <button type="submit" className="primary">
          {submitLabel}
        </button>
        {editing && (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        )}
      </div>
      <FormError error={error} fields={fields.map((f) => f.name)} />
    </form>
  );
}
