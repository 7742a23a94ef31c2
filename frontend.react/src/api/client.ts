// The one typed API client: paths and bodies come from schema.d.ts, generated from the API's
// OpenAPI document (`npm run gen:api`). The bearer token travels in the Authorization header
// only, never in a URL.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { clearSession, currentToken } from "../features/auth/session";

export type Schemas = components["schemas"];
export type DocumentStatus = Schemas["Status"];
export type DocumentDetail = Schemas["Document"];
export type DocumentSummary = Schemas["DocumentSummary"];
export type StatusName = NonNullable<DocumentStatus["status"]>;

/** The API's one error shape (flask-smorest's), plus the few extra keys it may add. */
export interface ApiError {
  code: number;
  status?: string;
  message: string;
  errors?: Record<string, unknown>;
  document_id?: string;
  [key: string]: unknown;
}

export const TERMINAL_STATUSES: ReadonlySet<StatusName> = new Set<StatusName>([
  "approved", "manual_review", "rejected",
  "preprocess_error", "ocr_error", "predict_error", "extraction_error", "evaluation_error",
]);
export const isTerminal = (s: StatusName | undefined) => s !== undefined && TERMINAL_STATUSES.has(s);
export const isError = (s: string | undefined) => !!s && s.endsWith("_error");

let onUnauthorized: () => void = () => {};
/** What happens when the API answers 401 to a signed-in call (the app sends the user to sign in). */
export function setUnauthorizedHandler(handler: () => void) {
  onUnauthorized = handler;
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = currentToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && request.headers.has("Authorization")) {
      clearSession();
      onUnauthorized();
    }
    return response;
  },
};

// `fetch` is looked up at call time (tests replace the global one).
export const api = createClient<paths>({ baseUrl: globalThis.location?.origin ?? "http://localhost", fetch: (request) => globalThis.fetch(request) });
api.use(auth);

/** Raw authorized fetch for bodies the typed client does not model (images, files, multipart progress). */
export async function authorizedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = currentToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401 && token) {
    clearSession();
    onUnauthorized();
  }
  return response;
}

export class ApiFailure extends Error {
  constructor(public readonly status: number, public readonly body: ApiError, public readonly retryAfterS?: number) {
    super(body.message || `HTTP ${status}`);
  }
}

/** The data of an openapi-fetch result, or an ApiFailure carrying the API's error body. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    const body = (result.error ?? {}) as Partial<ApiError>;
    throw new ApiFailure(result.response.status, {
      code: result.response.status,
      message: body.message ?? result.response.statusText ?? "Request failed",
      ...body,
    } as ApiError, retryAfter(result.response));
  }
  return result.data as T;
}

export function retryAfter(response: Response): number | undefined {
  const value = response.headers.get("Retry-After");
  const seconds = value ? Number(value) : NaN;
  return Number.isFinite(seconds) ? seconds : undefined;
}
