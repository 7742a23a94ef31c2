// The review API (docs/API_CONTRACT.md, "Review"): the queue, claims, corrections with
// If-Match, decisions and the audit trail.
import { authorizedFetch, ApiFailure, retryAfter, type ApiError, type DocumentDetail } from "../../api/client";

export interface Claim { user_id: string; email: string; claimed_at: string; expires_at: string }
export interface QueueItem {
  id: string; status: string; status_name: string; original_filename: string; created_at: string; deadline: string;
  invoice_number: string | null; vendor_name: string | null; total: number | null; currency: string | null;
  quality_score: number | null; reasons: string[]; error: string | null; duplicate_of: string | null;
  iban_changed: boolean; claim: Claim | null; version: number; due_date?: string | null;
}
export interface Queue { items: QueueItem[]; total: number; limit: number; next_cursor: string | null }
export interface AuditEntry {
  id: number; at: string; action: string; actor: { user_id: string; email: string; role: string } | null;
  field: string | null; before: unknown; after: unknown; detail: Record<string, unknown>;
}
export type ReviewDocument = DocumentDetail & { version?: number; claim?: Claim | null; decision?: unknown };

async function call<T>(path: string, init: RequestInit = {}): Promise<{ body: T; etag: string | null }> {
  const headers = new Headers(init.headers);
  if (init.body && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  const r = await authorizedFetch(path, { ...init, headers });
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    throw new ApiFailure(r.status, { code: r.status, message: body?.message ?? r.statusText, ...(body ?? {}) } as ApiError,
      retryAfter(r));
  }
  return { body: body as T, etag: r.headers.get("ETag") };
}

const doc = (id: string) => `/documents/${encodeURIComponent(id)}`;

export const reviewApi = {
  queue: (params: { cursor?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (params.cursor) q.set("cursor", params.cursor);
    q.set("limit", String(params.limit ?? 50));
    return call<Queue>(`/review?${q}`).then((r) => r.body);
  },
  document: (id: string) => call<ReviewDocument>(doc(id)),
  claim: (id: string) => call<Claim & { version: number }>(`${doc(id)}/claim`, { method: "POST" }).then((r) => r.body),
  release: (id: string) => call<{ released: boolean }>(`${doc(id)}/claim`, { method: "DELETE" }).then((r) => r.body),
  correct: (id: string, etag: string, fields: Record<string, string | null>) =>
    call<ReviewDocument>(`${doc(id)}/fields`, { method: "PATCH", headers: { "If-Match": etag }, body: JSON.stringify({ fields }) }),
  approve: (id: string, etag: string | null, body: { comment?: string; acknowledge?: string[] } = {}) =>
    call<ReviewDocument>(`${doc(id)}/approve`, { method: "POST", headers: etag ? { "If-Match": etag } : {}, body: JSON.stringify(body) }),
  reject: (id: string, etag: string | null, reason: string) =>
    call<ReviewDocument>(`${doc(id)}/reject`, { method: "POST", headers: etag ? { "If-Match": etag } : {}, body: JSON.stringify({ reason }) }),
  audit: (id: string) => call<{ document_id: string; entries: AuditEntry[] }>(`${doc(id)}/audit`).then((r) => r.body),
};

/** Field errors of a 422 from PATCH /fields: {"errors": {"json": {"fields": {"iban": ["…"]}}}}. */
export function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiFailure) || err.status !== 422) return {};
  const json = (err.body.errors as { json?: { fields?: Record<string, string[] | string> } } | undefined)?.json;
  return Object.fromEntries(Object.entries(json?.fields ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(" ") : String(v)]));
}
