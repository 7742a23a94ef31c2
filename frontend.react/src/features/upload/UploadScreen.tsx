import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useRef, useState, type DragEvent } from "react";
import { Link } from "react-router-dom";
import { ScanInvoice } from "../../components/ScanInvoice";
import { BatchUpload } from "./BatchUpload";
import { uploadFile, type UploadOutcome } from "./uploadFile";

interface Item {
  key: string;
  file: File;
  state: "uploading" | "done";
  outcome?: UploadOutcome;
}

let counter = 0;

export default function UploadScreen() {
  const [items, setItems] = useState<Item[]>([]);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const queryClient = useQueryClient();

  const update = (key: string, patch: Partial<Item>) =>
    setItems((all) => all.map((i) => (i.key === key ? { ...i, ...patch } : i)));

  const send = useCallback(async (item: Item) => {
    update(item.key, { state: "uploading", outcome: undefined });
    let outcome: UploadOutcome;
    try {
      outcome = await uploadFile(item.file);
    } catch (err) {
      outcome = { kind: "unavailable", message: `The upload did not reach the server (${(err as Error).message}).` };
    }
    update(item.key, { state: "done", outcome });
    queryClient.invalidateQueries({ queryKey: ["documents"] });
  }, [queryClient]);

  function add(files: FileList | File[]) {
    const fresh = Array.from(files).map((file) => ({ key: `f${++counter}`, file, state: "uploading" as const }));
    setItems((all) => [...fresh, ...all]);
    fresh.forEach(send);
  }

  function onDrop(e: DragEvent) {
    e.preventDefault();
    setOver(false);
    if (e.dataTransfer.files.length) add(e.dataTransfer.files);
  }

  return (
    <section aria-labelledby="upload-title">
      <h1 id="upload-title">Upload invoices</h1>
      <div
        className={`dropzone ${over ? "over" : ""}`}
        onDragOver={(e) => { e.preventDefault(); setOver(true); }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>Drop PDF, PNG, JPEG or TIFF files here, or</p>
        <button type="button" className="primary" onClick={() => input.current?.click()}>Choose files…</button>
        <input ref={input} type="file" multiple accept=".pdf,.png,.jpg,.jpeg,.tif,.tiff,.xml,application/pdf,image/*,application/xml,text/xml"
          aria-label="Choose invoice files" className="visually-hidden"
          onChange={(e) => { if (e.target.files?.length) add(e.target.files); e.target.value = ""; }} />
      </div>
      <ul className="uploads" aria-label="Uploads">
        {items.map((item) => (
          <li key={item.key} className="card upload-item" data-filename={item.file.name}>
            <strong className="filename">{item.file.name}</strong>
            <UploadState item={item} onRetry={() => send(item)} />
          </li>
        ))}
      </ul>
      <BatchUpload />
    </section>
  );
}

function UploadState({ item, onRetry }: { item: Item; onRetry: () => void }) {
  const o = item.outcome;
  if (item.state === "uploading" || !o) return <p className="muted" aria-live="polite">Uploading…</p>;
  switch (o.kind) {
    case "uploaded":
      return <ScanInvoice documentId={o.documentId} label={item.file.name} />;
    case "duplicate":
      return (
        <p role="status" className="warn-text">
          Already uploaded: this exact file is in your documents and is not processed again.{" "}
          <Link to={`/app/documents/${o.documentId}`}>Open the existing document</Link>
        </p>
      );
    case "rejected":
      return <p role="alert" className="error">{o.message}</p>;
    case "unavailable":
      return (
        <p role="alert" className="error">
          {o.message} <button type="button" onClick={onRetry}>Retry</button>
        </p>
      );
  }
}
