import { useEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import type { Schemas } from "../../api/client";
import { confidenceBand } from "../documents/format";
import { fieldLabel } from "../documents/useDocument";
import { DOCUMENT_TYPES, FIELD_SPECS, validateField } from "./fieldSpecs";

export type Corrections = Record<string, string | null>;

export interface ReviewFormProps {
  fields: Record<string, Schemas["FieldValue"]>;
  serverErrors?: Record<string, string>;
  busy?: boolean;
  readOnly?: boolean;
  onSelect?: (name: string) => void;
  onSave: (c: Corrections) => Promise<void> | void;
  onApprove: (pending: Corrections) => Promise<void> | void;
  onReject: (reason: string) => Promise<void> | void;
  onNext?: () => void;
}

const shown = (v: unknown) => (v === null || v === undefined ? "" : String(v));

/**
 * The reviewer's form, keyboard first: Enter accepts a field and moves to the next one,
 * Alt+↑/↓ move between fields, Ctrl+S saves the corrections, Ctrl+Enter approves (saving
 * first), Alt+R rejects with a reason, Alt+N opens the next document.
 */
export function ReviewForm({ fields, serverErrors = {}, busy, readOnly, onSelect, onSave, onApprove, onReject, onNext }: ReviewFormProps) {
  const initial = useMemo(() => Object.fromEntries(FIELD_SPECS.map((s) => [s.name, shown(fields[s.name]?.value)])), [fields]);
  const [draft, setDraft] = useState<Record<string, string>>(initial);
  const [accepted, setAccepted] = useState<Set<string>>(new Set());
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState("");
  const inputs = useRef<(HTMLInputElement | HTMLSelectElement | null)[]>([]);
  useEffect(() => setDraft(initial), [initial]);

  const errors = Object.fromEntries(FIELD_SPECS.flatMap((s) => {
    const e = validateField(s.kind, draft[s.name] ?? "");
    return e ? [[s.name, e]] : [];
  }));
  const changed: Corrections = Object.fromEntries(FIELD_SPECS.flatMap((s) =>
    (draft[s.name] ?? "") !== initial[s.name] ? [[s.name, draft[s.name].trim() === "" ? null : draft[s.name].trim()]] : []));
  const invalid = Object.keys(errors).length > 0;
  const dirty = Object.keys(changed).length > 0;

  const focusAt = (i: number) => inputs.current[Math.max(0, Math.min(FIELD_SPECS.length - 1, i))]?.focus();

  function onFieldKey(e: KeyboardEvent<HTMLInputElement | HTMLSelectElement>, i: number) {
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      if (!errors[FIELD_SPECS[i].name]) setAccepted((a) => new Set(a).add(FIELD_SPECS[i].name));
      focusAt(i + 1);
    } else if (e.altKey && e.key === "ArrowDown") {
      e.preventDefault();
      focusAt(i + 1);
    } else if (e.altKey && e.key === "ArrowUp") {
      e.preventDefault();
      focusAt(i - 1);
    }
  }

  function onFormKey(e: KeyboardEvent) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      approve();
    } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
      e.preventDefault();
      save();
    } else if (e.altKey && e.key.toLowerCase() === "r") {
      e.preventDefault();
      setRejecting(true);
    } else if (e.altKey && e.key.toLowerCase() === "n" && onNext) {
      e.preventDefault();
      onNext();
    }
  }

  function save() {
    if (!readOnly && dirty && !invalid && !busy) onSave(changed);
  }
  function approve() {
    if (!readOnly && !invalid && !busy) onApprove(changed);
  }
  function submitReject(e: FormEvent) {
    e.preventDefault();
    if (reason.trim()) onReject(reason.trim());
  }

  return (
    <div className="review-form" onKeyDown={onFormKey}>
      <form onSubmit={(e) => { e.preventDefault(); save(); }} aria-label="Correct fields">
        {/* Not disabled while a request runs: that would take the focus away from the field. */}
        <fieldset disabled={readOnly}>
          <legend className="visually-hidden">Fields</legend>
          {FIELD_SPECS.map((s, i) => {
            const f = fields[s.name];
            const err = errors[s.name] ?? serverErrors[s.name];
            const id = `field-${s.name}`;
            return (
              <div key={s.name} className={`field-row ${accepted.has(s.name) ? "accepted" : ""} ${s.core ? "core" : ""}`}
                data-field-row={s.name}>
                <label htmlFor={id}>{fieldLabel(s.name)}</label>
                {s.kind === "document_type" ? (
                  // A choice, never empty: the document is an invoice, a credit note (its amounts
                  // negative) or a receipt; "—" only while the pipeline has not said.
                  <select id={id} ref={(el) => { inputs.current[i] = el; }} value={draft[s.name] ?? ""}
                    onChange={(e) => setDraft({ ...draft, [s.name]: e.target.value })}
                    onFocus={() => onSelect?.(s.name)} onKeyDown={(e) => onFieldKey(e, i)}
                    aria-invalid={!!err} aria-describedby={err ? `${id}-error` : undefined}>
                    {!initial[s.name] && <option value="" disabled>—</option>}
                    {DOCUMENT_TYPES.map((t) => <option key={t.value} value={t.value}>{t.label}</option>)}
                  </select>
                ) : (
                  <input id={id} ref={(el) => { inputs.current[i] = el; }} value={draft[s.name] ?? ""}
                    onChange={(e) => setDraft({ ...draft, [s.name]: e.target.value })}
                    onFocus={() => onSelect?.(s.name)} onKeyDown={(e) => onFieldKey(e, i)}
                    aria-invalid={!!err} aria-describedby={err ? `${id}-error` : undefined} autoComplete="off" />
                )}
                <span className={`conf ${f ? confidenceBand(f.confidence) : "none"}`}
                  aria-label={f ? `confidence ${Math.round((f.confidence ?? 0) * 100)} percent` : "not found"}>
                  {f ? `${Math.round((f.confidence ?? 0) * 100)} %` : "—"}
                </span>
                {err && <span id={`${id}-error`} className="error small" role="alert">{err}</span>}
              </div>
            );
          })}
        </fieldset>
        <div className="actions">
          <button type="submit" disabled={readOnly || busy || !dirty || invalid}>Save corrections <kbd>Ctrl+S</kbd></button>
          <button type="button" className="primary" onClick={approve} disabled={readOnly || busy || invalid}>
            Approve <kbd>Ctrl+Enter</kbd></button>
          <button type="button" className="danger" onClick={() => setRejecting(true)} disabled={readOnly || busy}>
            Reject… <kbd>Alt+R</kbd></button>
          {onNext && <button type="button" onClick={onNext}>Next document <kbd>Alt+N</kbd></button>}
        </div>
      </form>
      {rejecting && (
        <form className="reject card" onSubmit={submitReject} aria-label="Reject the document">
          <label htmlFor="reject-reason">Why is this document rejected?</label>
          <textarea id="reject-reason" required maxLength={1000} value={reason} autoFocus
            onChange={(e) => setReason(e.target.value)} />
          <div className="actions">
            <button type="submit" className="danger" disabled={!reason.trim() || busy}>Reject</button>
            <button type="button" onClick={() => setRejecting(false)}>Cancel</button>
          </div>
        </form>
      )}
      <p className="muted small">Keys: Enter accepts a field and moves on · Alt+↑/↓ previous/next field · Ctrl+S save ·
        Ctrl+Enter approve · Alt+R reject · Alt+N next document</p>
    </div>
  );
}
