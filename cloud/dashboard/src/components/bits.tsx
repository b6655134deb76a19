// Small shared pieces: badges, error box, table heads, empty states.
import { Component, type ReactNode } from "react";
import { explain } from "../api";
import { statusTone } from "../format";

export function StatusBadge({ status, name }: { status: number; name: string }) {
  return <span className={`badge tone-${statusTone(status)}`}>{name}</span>;
}

export function PowerBadge({ state }: { state: string }) {
  return (
    <span className={`power power-${state}`} title={`power ${state}`}>
      <span className="dot" />
      {state}
    </span>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <span>{explain(error)}</span>
      {onRetry && (
        <button type="button" className="link" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A header row of plain column titles; an empty title heads a column of row buttons. */
export function TableHead({ columns }: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c}>{c}</th>
        ))}
      </tr>
    </thead>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/** A crash in one view shows as a message in that view, never a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: unknown }> {
  override state = { error: null as unknown };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  override render() {
    if (this.state.error) {
      return (
        <div className="error" role="alert">
          <span>This view failed to draw: {String((this.state.error as Error)?.message ?? this.state.error)}. Other views still work.</span>
          <button type="button" className="link" onClick={() => this.setState({ error: null })}>
            Try again
          </button>
        </div>
      );
    }
    return this.props.children;
  }
}

/** A page the caller may not use: its title and the region's reason, without its forms. */
export function Refused({ title, error }: { title: string; error: unknown }) {
  return (
    <div>
      <header className="page-head">
        <h1>{title}</h1>
      </header>
      <ErrorBox error={error} />
    </div>
  );
}
