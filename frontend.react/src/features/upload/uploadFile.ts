import { api, ApiFailure, unwrap } from "../../api/client";

export type UploadOutcome =
  | { kind: "uploaded"; documentId: string }
  | { kind: "duplicate"; documentId: string; message: string }
  | { kind: "rejected"; status: number; message: string }
  | { kind: "unavailable"; message: string };

export const MAX_503_RETRIES = 3;

/** What a person reads for each answer the upload endpoint gives (docs/API_CONTRACT.md). */
export function describeRejection(status: number, apiMessage: string): string {
  switch (status) {
    case 400:
      return `The file is empty. ${apiMessage}`;
    case 413:
      return `The file is too large. ${apiMessage}`;
    case 415:
      return `This is not a PDF, PNG, JPEG or TIFF file (judged by its content). ${apiMessage}`;
    case 422:
      return `The file cannot be processed: ${apiMessage}`;
    default:
      return apiMessage || `The upload failed (HTTP ${status}).`;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POST /documents/upload; a 503 (database or broker restarting) is retried after Retry-After. */
export async function uploadFile(file: File, opts: { retryDelayMs?: (attempt: number, retryAfterS?: number) => number } = {}): Promise<UploadOutcome> {
  const delay = opts.retryDelayMs ?? ((attempt, after) => Math.min(after ?? 2 ** attempt, 5) * 1000);
  for (let attempt = 0; ; attempt++) {
    try {
      const body = unwrap(
        await api.POST("/documents/upload", {
          body: { file: "" },
          bodySerializer: () => {
            const form = new FormData();
            form.append("file", file, file.name);
            return form;
          },
        }),
      );
      return { kind: "uploaded", documentId: String(body.document?.id) };
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err;
      if (err.status === 409 && err.body.document_id) {
        return { kind: "duplicate", documentId: String(err.body.document_id), message: err.body.message };
      }
      if (err.status === 503) {
        if (attempt < MAX_503_RETRIES) {
          await sleep(delay(attempt, err.retryAfterS));
          continue;
        }
        return { kind: "unavailable", message: "The service is busy or restarting; nothing was stored. Try again." };
      }
      return { kind: "rejected", status: err.status, message: describeRejection(err.status, err.body.message) };
    }
  }
}
