// The review API (docs/API_CONTRACT.md, "Review"): the queue, claims, corrections with
// If-Match, decisions and the audit trail, through the one typed client.
import { api, ApiFailure, unwrap, type Schemas } from "../../api/client";

export type QueueItem = Schemas["ReviewItem"];
export type Queue = Schemas["ReviewQueue"];
export type Claim = Schemas["Claim"];
export type AuditEntry = Schemas["AuditEntry"];
export type ReviewDocument = Schemas["Document"];

/** The email of whoever holds a claim or did an action ({} and null: nobody). */
export const claimEmail = (c: { email?: string | null } | Record<string, never> | null | undefined) =>
  (c && "email" in c ? c.email : null) ?? null;

const path = (id: string) => ({ path: { document_id: id } });

/** The data and the ETag (the document's version, for If-Match) of a document answer. */
async function withEtag<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>) {
  const result = await call;
  return { body: unwrap(result), etag: result.response.headers.get("ETag") };
}

export const reviewApi = {
  queue: async (params: { cursor?: string; limit?: number } = {}) =>
    unwrap(await api.GET("/review", { params: { query: { cursor: params.cursor, limit: params.limit ?? 50 } } })),
  document: (id: string) => withEtag(api.GET("/documents/{document_id}", { params: path(id) })),
  claim: async (id: string) => unwrap(await api.POST("/documents/{document_id}/claim", { params: path(id) })),
  release: async (id: string) => unwrap(await api.DELETE("/documents/{document_id}/claim", { params: path(id) })),
  correct: (id: string, etag: string, fields: Record<string, string | null>) =>
    withEtag(api.PATCH("/documents/{document_id}/fields", {
      params: { ...path(id), header: { "If-Match": etag } }, body: { fields },
    })),
  approve: (id: string, etag: string | null, body: Schemas["Approve"] = {}) =>
    withEtag(api.POST("/documents/{document_id}/approve", {
      params: path(id), headers: etag ? { "If-Match": etag } : {}, body,
    })),
  reject: (id: string, etag: string | null, reason: string) =>
    withEtag(api.POST("/documents/{document_id}/reject", {
      params: path(id), headers: etag ? { "If-Match": etag } : {}, body: { reason },
    })),
  audit: async (id: string) => unwrap(await api.GET("/documents/{document_id}/audit", { params: path(id) })),
};

/** Field errors of a 422 from PATCH /fields: {"errors": {"json": {"fields": {"iban": ["…"]}}}}. */
export function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiFailure) || err.status !== 422) return {};
  const json = (err.body.errors as { json?: { fields?: Record<string, string[] | string> } } | undefined)?.json;
  return Object.fromEntries(Object.entries(json?.fields ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(" ") : String(v)]));
}
