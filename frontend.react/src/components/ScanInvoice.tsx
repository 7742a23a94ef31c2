// The client's polling of GET /documents/<id>/status (INTEGRATION.md names this component):
// one TanStack query per document, refetched every `intervalMs` until the status is terminal.
import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { Link } from "react-router-dom";
import { api, isError, isTerminal, unwrap, type DocumentStatus } from "../api/client";

export const POLL_INTERVAL_MS = 1000;

export function useDocumentStatus(documentId: string, intervalMs = POLL_INTERVAL_MS) {
  return useQuery({
    queryKey: ["status", documentId],
    queryFn: async () =>
      unwrap(await api.GET("/documents/{document_id}/status", { params: { path: { document_id: documentId } } })),
    refetchInterval: (query) => (isTerminal(query.state.data?.status) ? false : intervalMs),
    staleTime: 0,
  });
}

export function ProgressBar({ percentage, label, tone }: { percentage: number; label: string; tone?: string }) {
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100}
      aria-valuenow={percentage} aria-valuetext={`${percentage}%`}>
      <div className={`progress-fill ${tone ?? ""}`} style={{ width: `${percentage}%` }} />
    </div>
  );
}

export interface ScanInvoiceProps {
  documentId: string;
  label: string;
  intervalMs?: number;
  onFinished?: (status: DocumentStatus) => void;
}

/** A document's live progress through the pipeline, from upload to a terminal status. */
export function ScanInvoice({ documentId, label, intervalMs, onFinished }: ScanInvoiceProps) {
  const { data, error } = useDocumentStatus(documentId, intervalMs);
  const done = isTerminal(data?.status);
  useEffect(() => {
    if (done && data && onFinished) onFinished(data);
  }, [done, data, onFinished]);

  if (error) return <p className="error" role="alert">Could not read the status: {error.message}</p>;
  const pct = data?.progress?.percentage ?? 0;
  const failed = isError(data?.status);
  const tone = failed ? "bad" : data?.status === "manual_review" ? "warn" : done ? "good" : "";
  return (
    <div className="scan" data-status={data?.status ?? "unknown"}>
      <ProgressBar percentage={pct} label={`Progress of ${label}`} tone={tone} />
      <div className="scan-line" aria-live="polite">
        <span className={`badge ${tone}`}>{data?.status_name ?? "Queued"}</span>
        <span className="muted">{pct} %</span>
        {data?.error && <span className="error">{data.error}</span>}
        {done && <Link to={`/app/documents/${documentId}`}>Open</Link>}
      </div>
    </div>
  );
}

export default ScanInvoice;
