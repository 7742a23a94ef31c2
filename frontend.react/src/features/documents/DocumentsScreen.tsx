import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, isTerminal, unwrap, type StatusName } from "../../api/client";
import { money, STATUS_LABELS, tone, when } from "./format";

const PAGE_SIZE = 20;

export default function DocumentsScreen() {
  const [params, setParams] = useSearchParams();
  const status = (params.get("status") || undefined) as StatusName | undefined;
  const q = params.get("q") || undefined;
  const created_from = params.get("from") || undefined;
  const created_to = params.get("to") || undefined;
  // The cursors of the pages before this one, to page back (the API pages forward by keyset).
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];

  const list = useQuery({
    queryKey: ["documents", { status, q, created_from, created_to, cursor }],
    queryFn: async () =>
      unwrap(await api.GET("/documents", {
        params: { query: { status, q, created_from, created_to, cursor, limit: PAGE_SIZE } },
      })),
    placeholderData: keepPreviousData,
    // Live statuses: while any listed document is still in the pipeline, refresh.
    refetchInterval: (query) =>
      query.state.data?.documents?.some((d) => !isTerminal(d.status as StatusName)) ? 2000 : false,
  });

  const [draft, setDraft] = useState({ q: q ?? "", status: status ?? "", from: created_from ?? "", to: created_to ?? "" });
  function apply(e: FormEvent) {
    e.preventDefault();
    const next = new URLSearchParams();
    Object.entries(draft).forEach(([k, v]) => v && next.set(k, v));
    setCursors([]);
    setParams(next);
  }

  const docs = list.data?.documents ?? [];
  return (
    <section aria-labelledby="docs-title">
      <h1 id="docs-title">Documents</h1>
      <form className="filters" onSubmit={apply} role="search" aria-label="Filter documents">
        <label>Search <input type="search" value={draft.q} placeholder="Vendor, number or file"
          onChange={(e) => setDraft({ ...draft, q: e.target.value })} /></label>
        <label>Status
          <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value })}>
            <option value="">Any</option>
            {Object.entries(STATUS_LABELS).map(([v, l]) => <option key={v} value={v}>{l}</option>)}
          </select>
        </label>
        <label>From <input type="date" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} /></label>
        <label>To <input type="date" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} /></label>
        <button type="submit" className="primary">Apply</button>
      </form>
      {list.error && <p role="alert" className="error">{list.error.message}</p>}
      <p className="muted" aria-live="polite">{list.data ? `${list.data.total} documents` : "Loading…"}</p>
      <div className="table-wrap">
        <table className="docs">
          <thead>
            <tr><th scope="col">Uploaded</th><th scope="col">File</th><th scope="col">Vendor</th>
              <th scope="col">Number</th><th scope="col">Date</th><th scope="col" className="num">Total</th>
              <th scope="col">Status</th></tr>
          </thead>
          <tbody>
            {docs.map((d) => (
              <tr key={d.id} data-document-id={d.id}>
                <td>{when(d.created_at)}</td>
                <td><Link to={`/app/documents/${d.id}`}>{d.original_filename}</Link></td>
                <td>{d.vendor_name ?? "—"}</td>
                <td>{d.invoice_number ?? "—"}</td>
                <td>{d.invoice_date ?? "—"}</td>
                <td className="num">{money(d.total, d.currency)}</td>
                <td><span className={`badge ${tone(d.status)}`} data-status={d.status}>{d.status_name}</span></td>
              </tr>
            ))}
            {list.data && docs.length === 0 && <tr><td colSpan={7} className="muted">No documents match.</td></tr>}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous
        </button>
        <button type="button" disabled={!list.data?.next_cursor}
          onClick={() => list.data?.next_cursor && setCursors([...cursors, list.data.next_cursor])}>
          Next
        </button>
      </nav>
    </section>
  );
}
