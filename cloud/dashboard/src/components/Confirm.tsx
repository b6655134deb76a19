// Destructive actions ask first, naming what they act on and what will happen.
import { useEffect, useRef, useState } from "react";

export interface ConfirmRequest {
  title: string;
  body: string;
  confirmLabel: string;
  danger?: boolean;
  run: () => Promise<void>;
}

export function ConfirmDialog({ req, onClose }: { req: ConfirmRequest | null; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const ok = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (req) ok.current?.focus();
  }, [req]);
  if (!req) return null;
  const go = async () => {
    setBusy(true);
    try {
      await req.run();
    } finally {
      setBusy(false);
      onClose();
    }
  };
  return (
    <div className="modal-backdrop">
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title" onKeyDown={(e) => e.key === "Escape" && !busy && onClose()}>
        <h2 id="confirm-title">{req.title}</h2>
        <p>{req.body}</p>
        <div className="modal-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="button" ref={ok} className={req.danger ? "danger" : "primary"} onClick={go} disabled={busy}>
            {busy ? "Working…" : req.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

/** A row's destructive button: asks with `title` and `body`, then runs; its label confirms. */
export function DangerButton({ label, title, body, run }: { label: string; title: string; body: string; run: () => Promise<void> }) {
  // The request is made once per click so the dialog's focus effect runs once, not on every render.
  const [req, setReq] = useState<ConfirmRequest | null>(null);
  return (
    <>
      <button type="button" className="danger-outline" onClick={() => setReq({ title, body, confirmLabel: label, danger: true, run })}>
        {label}
      </button>
      <ConfirmDialog req={req} onClose={() => setReq(null)} />
    </>
  );
}
