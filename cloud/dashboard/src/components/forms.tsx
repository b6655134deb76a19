// Form fields with a visible label and the region's answer about them right beside them: a
// validation failure names the field (its `path`), so its message goes under that field; any
// other refusal (a name taken, a role too small) goes under the form's button.
import type { ReactNode } from "react";
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

/** A failure no field is named in: shown once for the whole form. */
export function FormError({ error, fields }: { error: unknown; fields: string[] }) {
  if (!error) return null;
  const named = fieldErrors(error);
  if (fields.some((f) => named[f])) return null;
  return (
    <div className="field-error" role="alert">
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
