import { useQuery } from "@tanstack/react-query";
import { useState, type KeyboardEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { ApiFailure } from "../../api/client";
import { money, tone, when } from "../documents/format";
import { claimEmail, reviewApi } from "./reviewApi";

export function useQueue() {
  return useQuery({ queryKey: ["review-queue"], queryFn: () => reviewApi.queue({ limit: 100 }), refetchInterval: 5000 });
}

export default function ReviewQueue() {
  const queue = useQueue();
  const navigate = useNavigate();
  const [active, setActive] = useState(0);
  const items = queue.data?.items ?? [];

  function onKey(e: KeyboardEvent) {
    if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); setActive((a) => Math.min(items.length - 1, a + 1)); }
    if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); setActive((a) => Math.max(0, a - 1)); }
    if (e.key === "Enter" && items[active]) navigate(`/app/review/${items[active].id}`);
  }

  if (queue.error) {
    const forbidden = queue.error instanceof ApiFailure && queue.error.status === 403;
    return <section><h1>Review</h1><p role="alert" className="error">
      {forbidden ? "Your role cannot review documents." : queue.error.message}</p></section>;
  }
  return (
    <section aria-labelledby="queue-title">
      <h1 id="queue-title">Review queue</h1>
      <p className="muted" aria-live="polite">
        {queue.data ? `${queue.data.total} documents need a person, most urgent first.` : "Loading…"}
        {items.length > 0 && <> <Link className="button primary" to={`/app/review/${items[0].id}`}>Start with the first</Link></>}
      </p>
      <div className="table-wrap">
        <table className="docs queue" tabIndex={0} onKeyDown={onKey} aria-label="Documents to review (↑/↓ to move, Enter to open)">
          <thead><tr><th scope="col">Deadline</th><th scope="col">Vendor</th><th scope="col">Number</th>
            <th scope="col" className="num">Total</th><th scope="col">Quality</th><th scope="col">Why</th>
            <th scope="col">Claimed by</th><th scope="col">Status</th></tr></thead>
          <tbody>
            {items.map((it, i) => (
              <tr key={it.id} className={i === active ? "active" : ""} aria-selected={i === active} data-document-id={it.id}>
                <td>{when(it.deadline)}</td>
                <td><Link to={`/app/review/${it.id}`}>{it.vendor_name ?? it.original_filename}</Link></td>
                <td>{it.invoice_number ?? "—"}</td>
                <td className="num">{money(it.total, it.currency)}</td>
                <td>{typeof it.quality_score === "number" ? `${Math.round(it.quality_score * 100)} %` : "—"}</td>
                <td className="small">{[...(it.reasons ?? []), it.error].filter(Boolean).slice(0, 2).join("; ")}</td>
                <td>{claimEmail(it.claim) ?? "—"}</td>
                <td><span className={`badge ${tone(it.status)}`}>{it.status_name}</span></td>
              </tr>
            ))}
            {queue.data && items.length === 0 && <tr><td colSpan={8} className="muted">Nothing to review.</td></tr>}
          </tbody>
        </table>
      </div>
    </section>
  );
}
