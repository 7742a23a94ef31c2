import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { Link } from "react-router-dom";
import { ApiFailure } from "../../api/client";
import { getBatch, resultText, uploadBatch, type BatchCreated } from "./batchApi";

// Many files, or a ZIP, as one batch: the answer lists one result per file (as a single upload
// of it would answer), then the batch's progress is polled until every accepted document is done.
export function BatchUpload() {
  const input = useRef<HTMLInputElement>(null);
  const queryClient = useQueryClient();
  const [sending, setSending] = useState<string | null>(null);
  const [created, setCreated] = useState<BatchCreated | null>(null);
  const [error, setError] = useState<string | null>(null);
  const batch = useQuery({
    queryKey: ["batch", created?.id],
    queryFn: () => getBatch(created!.id!),
    enabled: !!created?.id,
    refetchInterval: (q) => (q.state.data?.done ? false : 2000),
  });

  async function send(files: File[]) {
    setSending(files.length === 1 ? files[0].name : `${files.length} files`);
    setError(null);
    setCreated(null);
    try {
      setCreated(await uploadBatch(files));
      queryClient.invalidateQueries({ queryKey: ["documents"] });
    } catch (err) {
      setError(err instanceof ApiFailure ? `The batch was refused (${err.status}): ${err.message}`
        : `The batch did not reach the server (${(err as Error).message}).`);
    } finally {
      setSending(null);
    }
  }

  const items = batch.data?.items;
  const statuses = batch.data?.statuses ?? {};
  return (
    <section aria-labelledby="batch-title" className="card batch">
      <h2 id="batch-title">Batch upload</h2>
      <p className="muted">Many files or one ZIP (a month-end backlog) as one batch: one result per file, then the
        batch's progress. <button type="button" onClick={() => input.current?.click()} disabled={!!sending}>
          Choose files or a ZIP…</button></p>
      <input ref={input} type="file" multiple accept=".zip,application/zip,.pdf,.png,.jpg,.jpeg,.tif,.tiff,.xml,application/pdf,image/*"
        aria-label="Choose files or a ZIP for one batch" className="visually-hidden"
        onChange={(e) => { if (e.target.files?.length) send(Array.from(e.target.files)); e.target.value = ""; }} />
      {sending && <p className="muted" aria-live="polite">Uploading {sending}…</p>}
      {error && <p role="alert" className="error">{error}</p>}
      {created && (
        <div data-testid="batch-result" data-batch-id={created.id}>
          <p aria-live="polite">
            <strong>{created.archive_name ?? "Batch"}</strong>: {created.file_count} file(s), {created.accepted} accepted,{" "}
            {created.rejected} refused.{" "}
            <span data-testid="batch-status">{batch.data?.done ? "All accepted documents are processed"
              : "Processing…"}{Object.keys(statuses).length > 0 &&
                ` (${Object.entries(statuses).map(([s, n]) => `${n} ${s.replace(/_/g, " ")}`).join(", ")})`}</span>
          </p>
          <div className="table-wrap">
            <table className="docs" aria-label="Files of the batch">
              <thead><tr><th scope="col">#</th><th scope="col">File</th><th scope="col">Result</th><th scope="col">Document</th></tr></thead>
              <tbody>
                {(created.results ?? []).map((r) => {
                  const now = items?.find((i) => i.position === r.position);
                  return (
                    <tr key={r.position} data-entry={r.entry ?? r.filename} data-code={r.code}>
                      <td>{(r.position ?? 0) + 1}</td>
                      <td className="small">{r.entry ?? r.filename}</td>
                      <td className={r.code === 201 ? "" : r.code === 409 ? "warn-text" : "error"}>{resultText(r.code, r.reason, r.message)}</td>
                      <td>{r.document_id ? <><Link to={`/app/documents/${r.document_id}`}>Open</Link>
                        {now?.document_status && <span className="muted small"> {now.document_status.replace(/_/g, " ")}</span>}</> : "—"}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  );
}
