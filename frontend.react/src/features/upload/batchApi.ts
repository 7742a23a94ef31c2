// POST /documents/batch (many files, or one ZIP) and GET /batches/<id>, through the typed client.
import { api, unwrap, type Schemas } from "../../api/client";

export type BatchCreated = Schemas["BatchCreated"];
export type Batch = Schemas["Batch"];

export async function uploadBatch(files: File[]): Promise<BatchCreated> {
  return unwrap(await api.POST("/documents/batch", {
    body: { files: [] },
    bodySerializer: () => {
      const form = new FormData();
      for (const file of files) form.append("files", file, file.name);
      return form;
    },
  }));
}

export async function getBatch(id: string): Promise<Batch> {
  return unwrap(await api.GET("/batches/{batch_id}", { params: { path: { batch_id: id } } }));
}

/** One line per file of a batch: what a single upload of it would have answered. */
export function resultText(code: number | undefined, reason: string | null | undefined, message: string | null | undefined): string {
  if (code === 201) return "Accepted";
  if (code === 409) return "Already uploaded (duplicate)";
  const why: Record<string, string> = {
    unsafe_path: "refused: its path in the ZIP leaves the archive",
    zip_bomb: "refused: it expands far beyond its compressed size (a ZIP bomb)",
    nested_archive: "refused: an archive inside the archive",
    encrypted_entry: "refused: encrypted in the ZIP",
    unsupported_type: "not a PDF, PNG, JPEG, TIFF or e-invoice XML",
    too_large: "too large",
    empty: "empty",
  };
  return `${code ?? "?"}: ${(reason && why[reason]) || message || reason || "refused"}`;
}
