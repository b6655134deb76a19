// Region settings: what the MAAS API's get_config/set_config serve (default OS and series, kernel
// options, upstream DNS, NTP, proxy, erasing). Everyone reads them; an admin on every site edits
// one at a time, and the region's own refusal shows next to the field it is about.
import { type FormEvent, useState } from "react";
import { api } from "../api";
import { ErrorBox } from "../components/bits";
import { FormError } from "../components/forms";
import { useLive } from "../live";
import { can } from "../perms";
import type { SessionUser } from "../types";
import { useLoad } from "../useLoad";

type Value = string | number | boolean;
interface Setting {
  name: string;
  value: Value;
  default: Value;
  doc: string;
}

export function SettingsView({ user }: { user: SessionUser }) {
  const { data, error, reload } = useLoad(async () => (await api<{ items: Setting[] }>("GET", "/settings")).items, []);
  useLive({ onEvent: (e) => e.type === "settings.changed" && reload(), onResync: reload });
  // Changing a setting takes admin on every site: the region says so too, this only hides forms.
  const admin = can(user, "site.manage", null);
  const [filter, setFilter] = useState("");
  const shown = data?.filter((s) => !filter || s.name.includes(filter.toLowerCase()) || s.doc.toLowerCase().includes(filter.toLowerCase()));
  return (
    <div>
      <header className="page-head">
        <h1>Settings</h1>
        <span className="muted">region-wide; MAAS clients read and write them as get_config and set_config</span>
      </header>
      <ErrorBox error={error} onRetry={reload} />
      <input
        className="settings-filter"
        aria-label="Filter settings"
        placeholder="filter, e.g. dns"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
      />
      <table className="grid compact" data-testid="settings">
        <thead>
          <tr>
            <th scope="col">Setting</th>
            <th scope="col">Value</th>
            <th scope="col">Default</th>
          </tr>
        </thead>
        <tbody>
          {shown?.map((s) => (
            <SettingRow key={`${s.name}:${String(s.value)}`} setting={s} editable={admin} onSaved={reload} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SettingRow({ setting: s, editable, onSaved }: { setting: Setting; editable: boolean; onSaved: () => void }) {
  const [draft, setDraft] = useState<Value>(s.value);
  const [problem, setProblem] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const id = `setting-${s.name}`;
  const changed = draft !== s.value;
  const save = async (e?: FormEvent) => {
    e?.preventDefault();
    setSaving(true);
    setProblem(null);
    try {
      await api("PUT", `/settings/${s.name}`, { value: draft });
      onSaved();
    } catch (err) {
      setProblem(err);
    } finally {
      setSaving(false);
    }
  };
  const input =
    typeof s.value === "boolean" ? (
      <input id={id} type="checkbox" checked={draft === true} disabled={!editable} onChange={(e) => setDraft(e.target.checked)} />
    ) : (
      <input
        id={id}
        type={typeof s.value === "number" ? "number" : "text"}
        value={String(draft)}
        readOnly={!editable}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? `${id}-problem` : `${id}-doc`}
        onChange={(e) => setDraft(typeof s.value === "number" ? (e.target.value === "" ? "" : Number(e.target.value)) : e.target.value)}
      />
    );
  return (
    <tr data-setting={s.name}>
      <td>
        <label htmlFor={id} className="mono">
          {s.name}
        </label>
        <div className="muted small" id={`${id}-doc`}>
          {s.doc}
        </div>
      </td>
      <td>
        <form className="inline-form" onSubmit={save}>
          {input}
          {editable && (
            <button type="submit" disabled={!changed || saving} aria-label={`Save ${s.name}`}>
              {saving ? "Saving…" : "Save"}
            </button>
          )}
        </form>
        <FormError id={`${id}-problem`} error={problem} />
      </td>
      <td className="mono small">{String(s.default) || "–"}</td>
    </tr>
  );
}
