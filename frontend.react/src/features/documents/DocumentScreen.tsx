import { useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { authorizedFetch, isError, isTerminal, type DocumentDetail, type StatusName } from "../../api/client";
import { confidenceBand, money, tone, when } from "./format";
import { PageViewer } from "./PageViewer";
import { fieldLabel, useDocument, useOcr } from "./useDocument";

async function downloadOriginal(doc: DocumentDetail) {
  const r = await authorizedFetch(`/documents/${doc.id}/file`);
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = doc.original_filename ?? "document";
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export default function DocumentScreen() {
  const { id = "" } = useParams();
  const doc = useDocument(id);
  const ocr = useOcr(id, !!doc.data?.pages?.length, doc.data?.status);
  const [pageNo, setPageNo] = useState(1);
  const [selected, setSelected] = useState<string | null>(null);

  if (doc.isLoading) return <p className="muted">Loading…</p>;
  if (doc.error || !doc.data) return <p role="alert" className="error">{doc.error?.message ?? "Not found"}</p>;
  const d = doc.data;
  const fields = d.fields ?? {};
  const status = d.status as StatusName;

  function select(name: string | null) {
    setSelected(name);
    const page = name ? fields[name]?.page : null;
    if (page) setPageNo(page);
  }

  return (
    <section aria-labelledby="doc-title" className="document">
      <header className="doc-head">
        <h1 id="doc-title">{d.vendor_name ?? d.original_filename}{d.invoice_number ? ` · ${d.invoice_number}` : ""}</h1>
        <span className={`badge ${tone(d.status)}`} data-status={d.status}>{d.status_name}</span>
        {!isTerminal(status) && <span className="muted">processing…</span>}
        {(status === "manual_review" || isError(status)) && <Link className="button primary" to={`/app/review/${d.id}`}>Review</Link>}
        <button type="button" onClick={() => downloadOriginal(d)}>Download original</button>
      </header>
      <p className="muted small" data-testid="doc-source">Came in by {sourceLabel(d.source)}
        {d.einvoice ? " · e-invoice (values of record from its XML)" : ""}</p>
      <SourceDetail source={d.source} detail={d.source_detail as Record<string, unknown> | null | undefined} />
      {d.error && <p role="alert" className="error">{d.error}</p>}
      <div className="doc-grid">
        {d.pages && d.pages.length > 0 ? (
          <PageViewer documentId={d.id!} pages={d.pages} fields={fields} ocr={ocr.data?.pages} pageNo={pageNo}
            onPage={setPageNo} selected={selected} onSelect={select} />
        ) : (
          <p className="muted viewer">{d.einvoice && isTerminal(status)
            ? "An XML e-invoice has no pages: its values come from the XML (Download original shows it)."
            : "The pages appear here once they are rendered."}</p>
        )}
        <aside className="side">
          <FieldsTable fields={fields} selected={selected} onSelect={select} />
          <LineItems doc={d} />
          {d.einvoice && <EInvoicePanel einvoice={d.einvoice as EInvoice} />}
          <Evaluation doc={d} />
          <History doc={d} />
        </aside>
      </div>
    </section>
  );
}

function FieldsTable({ fields, selected, onSelect }: {
  fields: NonNullable<DocumentDetail["fields"]>; selected: string | null; onSelect: (n: string) => void;
}) {
  const rowRefs = useRef<Record<string, HTMLTableRowElement | null>>({});
  useEffect(() => {
    if (selected) rowRefs.current[selected]?.scrollIntoView?.({ block: "nearest" });
  }, [selected]);
  const names = Object.keys(fields);
  return (
    <section aria-labelledby="fields-title">
      <h2 id="fields-title">Fields</h2>
      {names.length === 0 ? <p className="muted">No fields extracted yet.</p> : (
        <table className="fields">
          <thead><tr><th scope="col">Field</th><th scope="col">Value</th><th scope="col">From</th><th scope="col">Confidence</th></tr></thead>
          <tbody>
            {names.map((name) => {
              const f = fields[name];
              const band = confidenceBand(f.confidence);
              return (
                <tr key={name} ref={(el) => { rowRefs.current[name] = el; }}
                  className={selected === name ? "selected" : ""} data-field={name}>
                  <th scope="row">
                    <button type="button" className="linklike" onClick={() => onSelect(name)}
                      aria-pressed={selected === name} disabled={!f.bbox}
                      title={f.bbox ? "Show on the page" : "Not located on a page"}>
                      {fieldLabel(name)}
                    </button>
                  </th>
                  <td>{f.value === null || f.value === undefined ? "—" : String(f.value)}
                    {f.error && <div className="error small">{f.error}</div>}</td>
                  <td>{f.value === null || f.value === undefined ? "—" : (
                    <span className={`prov ${f.provenance ?? "none"}`} data-provenance={f.provenance ?? ""}>
                      {PROVENANCE[f.provenance ?? ""] ?? "—"}</span>)}</td>
                  <td><span className={`conf ${band}`}>{Math.round((f.confidence ?? 0) * 100)} %</span></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

const PROVENANCE: Record<string, string> = { xml: "XML", page: "page", derived: "derived", person: "person" };

const SOURCES: Record<string, string> = { upload: "upload", batch: "batch upload", mail: "email", folder: "watched folder" };

export function sourceLabel(source: string | undefined): string {
  return SOURCES[source ?? "upload"] ?? source ?? "upload";
}

// Where a document came from, in the words of its source (GET /documents/<id> `source_detail`).
const SOURCE_FIELDS: Record<string, [string, string][]> = {
  mail: [["sender", "From"], ["subject", "Subject"], ["received_at", "Received"], ["attachment", "Attachment"],
    ["message_id", "Message-ID"]],
  folder: [["path", "File"], ["modified_at", "Written"], ["size", "Size (bytes)"]],
  batch: [["archive", "Archive"], ["entry", "Path in the archive"], ["position", "Position"], ["batch_id", "Batch"]],
};

export function sourceRows(source: string | undefined, detail: Record<string, unknown> | null | undefined): [string, string][] {
  if (!detail) return [];
  return (SOURCE_FIELDS[source ?? ""] ?? []).flatMap(([key, label]) => {
    const value = detail[key];
    if (value === null || value === undefined || value === "") return [];
    const text = key.endsWith("_at") && typeof value === "string" ? when(value) : String(key === "position" ? Number(value) + 1 : value);
    return [[label, text] as [string, string]];
  });
}

function SourceDetail({ source, detail }: { source: string | undefined; detail: Record<string, unknown> | null | undefined }) {
  const rows = sourceRows(source, detail);
  if (!rows.length) return null;
  return (
    <dl className="source-detail small" aria-label="Source" data-testid="doc-source-detail">
      {rows.map(([label, value]) => <div key={label}><dt>{label}</dt><dd>{value}</dd></div>)}
    </dl>
  );
}

interface Finding { category?: string; rule?: string; severity?: string; message?: string; source?: string }
interface CrossField { xml?: unknown; picture?: unknown; outcome?: string }
export interface EInvoice {
  syntax?: string; profile?: string | null; claims?: string[];
  validation?: { valid?: boolean; checked?: string[]; not_checked?: string[]; findings?: Finding[] } | null;
  cross_check?: { agrees?: boolean; disagreements?: string[]; fields?: Record<string, CrossField> } | null;
}

const CATEGORY: Record<string, string> = { format: "format error", business_rule: "business-rule error", content: "content error" };

export function EInvoicePanel({ einvoice }: { einvoice: EInvoice }) {
  const v = einvoice.validation;
  const findings = v?.findings ?? [];
  const disagreements = einvoice.cross_check?.disagreements ?? [];
  const cross = einvoice.cross_check?.fields ?? {};
  return (
    <section aria-labelledby="einvoice-title">
      <h2 id="einvoice-title">E-invoice</h2>
      <p>{(einvoice.syntax ?? "xml").toUpperCase()}{einvoice.profile ? ` · ${einvoice.profile}` : ""}
        {einvoice.claims && einvoice.claims.length > 0 ? ` · claims ${einvoice.claims.join(", ")}` : ""}</p>
      <p data-testid="einvoice-verdict">{v ? (v.valid ? "Valid" : "Not valid") : "Not validated"}
        {v?.checked && v.checked.length > 0 ? ` against ${v.checked.join("; ")}` : ""}</p>
      {v?.not_checked && v.not_checked.length > 0 && <p className="muted small">Not checked: {v.not_checked.join("; ")}</p>}
      {findings.length > 0 && (
        <ul className="findings">
          {findings.map((f, i) => (
            <li key={i} data-rule={f.rule}><strong>{f.rule ?? "—"}</strong>{" "}
              <span className="muted">({CATEGORY[f.category ?? ""] ?? f.category}{f.severity && f.severity !== "error" ? `, ${f.severity}` : ""})</span>{" "}
              {f.message}</li>
          ))}
        </ul>
      )}
      {disagreements.length > 0 && (
        <table className="items" aria-label="Picture and XML disagree">
          <thead><tr><th scope="col">Field</th><th scope="col">XML (of record)</th><th scope="col">On the page</th></tr></thead>
          <tbody>
            {disagreements.map((name) => (
              <tr key={name}><th scope="row">{fieldLabel(name)}</th><td>{String(cross[name]?.xml ?? "—")}</td>
                <td>{String(cross[name]?.picture ?? "—")}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function LineItems({ doc }: { doc: DocumentDetail }) {
  const items = doc.line_items ?? [];
  return (
    <section aria-labelledby="items-title">
      <h2 id="items-title">Line items</h2>
      {items.length === 0 ? <p className="muted">None.</p> : (
        <table className="items">
          <thead><tr><th scope="col">Description</th><th scope="col" className="num">Qty</th>
            <th scope="col" className="num">Unit price</th><th scope="col" className="num">Amount</th></tr></thead>
          <tbody>
            {items.map((li) => (
              <tr key={li.position}><td>{li.description ?? "—"}</td><td className="num">{li.quantity ?? "—"}</td>
                <td className="num">{money(li.unit_price, doc.currency)}</td><td className="num">{money(li.amount, doc.currency)}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Evaluation({ doc }: { doc: DocumentDetail }) {
  const ev = doc.evaluation as { reasons?: string[]; quality_score?: number; approved?: boolean } | null | undefined;
  return (
    <section aria-labelledby="eval-title">
      <h2 id="eval-title">Evaluation</h2>
      {!ev ? <p className="muted">Not evaluated yet.</p> : (
        <>
          <p>Quality {doc.quality_score !== null && doc.quality_score !== undefined ? `${Math.round(doc.quality_score * 100)} %` : "—"}
            {ev.approved ? " · approved automatically" : ""}</p>
          {ev.reasons && ev.reasons.length > 0 && (
            <ul className="reasons">{ev.reasons.map((r, i) => <li key={i}>{r}</li>)}</ul>
          )}
        </>
      )}
    </section>
  );
}

function History({ doc }: { doc: DocumentDetail }) {
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <ol className="history">
        {(doc.history ?? []).map((h, i) => (
          <li key={i}><span className="muted">{when(h.started_at)}</span> {h.from_status ? `${h.from_status} → ` : ""}
            <strong>{h.to_status}</strong>{h.stage ? ` (${h.stage})` : ""}</li>
        ))}
      </ol>
    </section>
  );
}
