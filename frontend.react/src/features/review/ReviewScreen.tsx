import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiFailure } from "../../api/client";
import { tone, when } from "../documents/format";
import { PageViewer } from "../documents/PageViewer";
import { useOcr } from "../documents/useDocument";
import { useQueue } from "./ReviewQueue";
import { ReviewForm, type Corrections } from "./ReviewForm";
import { claimEmail, fieldErrors, reviewApi } from "./reviewApi";

export default function ReviewScreen() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const queue = useQueue();
  const doc = useQuery({ queryKey: ["review-doc", id], queryFn: () => reviewApi.document(id) });
  const ocr = useOcr(id, !!doc.data?.body.pages?.length);
  const audit = useQuery({ queryKey: ["audit", id], queryFn: () => reviewApi.audit(id) });
  const [pageNo, setPageNo] = useState(1);
  const [selected, setSelected] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});

  const claim = useMutation({ mutationFn: () => reviewApi.claim(id) });
  useEffect(() => {
    claim.mutate();
    return () => { reviewApi.release(id).catch(() => undefined); };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);

  const refresh = () => Promise.all([
    queryClient.invalidateQueries({ queryKey: ["review-doc", id] }),
    queryClient.invalidateQueries({ queryKey: ["audit", id] }),
    queryClient.invalidateQueries({ queryKey: ["review-queue"] }),
    queryClient.invalidateQueries({ queryKey: ["documents"] }),
    queryClient.invalidateQueries({ queryKey: ["document", id] }),
  ]);

  const nextId = queue.data?.items?.find((it) => it.id !== id && (!claimEmail(it.claim) || claimEmail(it.claim) === claim.data?.email))?.id;
  const goNext = () => navigate(nextId ? `/app/review/${nextId}` : "/app/review");

  const act = useMutation({
    mutationFn: async (action: () => Promise<unknown>) => action(),
    onError: (err) => {
      setServerErrors(fieldErrors(err));
      if (err instanceof ApiFailure && err.status === 412) setMessage("The document changed since you opened it; it was reloaded. Check and try again.");
      else setMessage(err.message);
      refresh();
    },
  });

  async function save(c: Corrections) {
    const etag = doc.data?.etag ?? "";
    await act.mutateAsync(async () => {
      await reviewApi.correct(id, etag, c);
      setServerErrors({});
      setMessage(`Saved ${Object.keys(c).length} correction(s).`);
      await refresh();
    });
  }

  async function approve(pending: Corrections) {
    await act.mutateAsync(async () => {
      let etag = doc.data?.etag ?? null;
      if (Object.keys(pending).length) etag = (await reviewApi.correct(id, etag ?? "", pending)).etag;
      try {
        await reviewApi.approve(id, etag);
      } catch (err) {
        const blocking = err instanceof ApiFailure ? (err.body.blocking as ("iban_changed" | "possible_duplicate")[] | undefined) : undefined;
        if (!blocking?.length || !window.confirm(`${(err as Error).message}\n\nApprove anyway?`)) throw err;
        await reviewApi.approve(id, null, { acknowledge: blocking });
      }
      await refresh();
      goNext();
    });
  }

  async function reject(reason: string) {
    await act.mutateAsync(async () => {
      await reviewApi.reject(id, doc.data?.etag ?? null, reason);
      await refresh();
      goNext();
    });
  }

  if (doc.isLoading) return <p className="muted">Loading…</p>;
  if (doc.error || !doc.data) return <p role="alert" className="error">{doc.error?.message ?? "Not found"}</p>;
  const d = doc.data.body;
  const claimError = claim.error instanceof ApiFailure ? claim.error : null;
  const reviewable = d.status === "manual_review" || (d.status ?? "").endsWith("_error");

  return (
    <section aria-labelledby="review-title" className="document">
      <header className="doc-head">
        <h1 id="review-title">Review: {d.vendor_name ?? d.original_filename}</h1>
        <span className={`badge ${tone(d.status)}`} data-status={d.status}>{d.status_name}</span>
        <Link to={`/app/documents/${d.id}`}>Document view</Link>
        <Link to="/app/review">Queue</Link>
      </header>
      {claimError && <p role="alert" className="warn-text">{claimError.message}</p>}
      {claim.data && <p className="muted small">You hold this document until {when(claim.data.expires_at)}.</p>}
      {message && <p role="status" className="notice">{message}</p>}
      {(d.evaluation as { reasons?: string[] } | null)?.reasons?.length ? (
        <ul className="reasons" aria-label="Why it needs review">
          {(d.evaluation as { reasons: string[] }).reasons.map((r, i) => <li key={i}>{r}</li>)}
        </ul>
      ) : null}
      <div className="doc-grid">
        {d.pages && d.pages.length > 0 ? (
          <PageViewer documentId={id} pages={d.pages} fields={d.fields} ocr={ocr.data?.pages} pageNo={pageNo}
            onPage={setPageNo} selected={selected} onSelect={setSelected} />
        ) : <p className="muted viewer">No page images.</p>}
        <aside className="side">
          <ReviewForm fields={d.fields ?? {}} serverErrors={serverErrors} busy={act.isPending}
            readOnly={!reviewable || !!claimError}
            onSelect={(name) => { setSelected(name); const p = d.fields?.[name]?.page; if (p) setPageNo(p); }}
            onSave={save} onApprove={approve} onReject={reject} onNext={goNext} />
          <section aria-labelledby="audit-title">
            <h2 id="audit-title">Audit trail</h2>
            <ol className="history">
              {(audit.data?.entries ?? []).map((e) => (
                <li key={e.id}><span className="muted">{when(e.at)}</span> <strong>{e.action}</strong>
                  {e.field ? ` ${e.field}: ${JSON.stringify(e.before)} → ${JSON.stringify(e.after)}` : ""}
                  {claimEmail(e.actor) ? ` by ${claimEmail(e.actor)}` : ""}</li>
              ))}
              {audit.data && (audit.data.entries ?? []).length === 0 && <li className="muted">No actions yet.</li>}
            </ol>
          </section>
        </aside>
      </div>
    </section>
  );
}
