import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockFetch } from "../../test/http";
import { renderWithProviders } from "../../test/render";
import { resultText } from "./batchApi";
import { BatchUpload } from "./BatchUpload";

const zip = new File([new Uint8Array([80, 75, 3, 4])], "month-end.zip", { type: "application/zip" });

describe("BatchUpload", () => {
  it("sends a ZIP as one batch, shows one result per file and the batch's status until done", async () => {
    let polls = 0;
    const { calls } = mockFetch({
      "POST /documents/batch": () => ({ status: 201, body: {
        id: "b1", archive_name: "month-end.zip", file_count: 3, accepted: 1, rejected: 2, results: [
          { position: 0, filename: "a.pdf", entry: "nov/a.pdf", code: 201, document_id: "d1", status: "Created" },
          { position: 1, filename: "escape.pdf", entry: "../escape.pdf", code: 422, reason: "unsafe_path", message: "unsafe" },
          { position: 2, filename: "old.pdf", entry: "nov/old.pdf", code: 409, reason: "duplicate", document_id: "d0" },
        ] } }),
      "GET /batches/b1": () => {
        polls++;
        const done = polls > 1;
        return { body: { id: "b1", done, statuses: { [done ? "approved" : "ocr_extracting"]: 1 },
          items: [{ position: 0, document_id: "d1", document_status: done ? "approved" : "ocr_extracting" }] } };
      },
    });
    renderWithProviders(<BatchUpload />);
    fireEvent.change(screen.getByLabelText("Choose files or a ZIP for one batch"), { target: { files: [zip] } });
    const result = await screen.findByTestId("batch-result");
    expect(result).toHaveTextContent("month-end.zip: 3 file(s), 1 accepted, 2 refused.");
    const row = (entry: string) => result.querySelector(`[data-entry="${entry}"]`) as HTMLElement;
    expect(row("nov/a.pdf")).toHaveTextContent("Accepted");
    expect(row("../escape.pdf")).toHaveTextContent("422: refused: its path in the ZIP leaves the archive");
    expect(row("nov/old.pdf")).toHaveTextContent("Already uploaded (duplicate)");
    expect(row("nov/old.pdf").querySelector("a")).toHaveAttribute("href", "/app/documents/d0");
    await waitFor(() => expect(screen.getByTestId("batch-status")).toHaveTextContent(
      "All accepted documents are processed (1 approved)"), { timeout: 8000 });
    expect(row("nov/a.pdf")).toHaveTextContent("approved");
    expect(calls.filter((c) => c.path === "/documents/batch")).toHaveLength(1);
  });

  it("says why a whole batch was refused", async () => {
    mockFetch({ "POST /documents/batch": () => ({ status: 413, body: { code: 413, message: "More than 1000 files" } }) });
    renderWithProviders(<BatchUpload />);
    fireEvent.change(screen.getByLabelText("Choose files or a ZIP for one batch"), { target: { files: [zip] } });
    expect(await screen.findByRole("alert")).toHaveTextContent("The batch was refused (413): More than 1000 files");
  });

  it("words each refusal", () => {
    expect(resultText(422, "zip_bomb", "x")).toContain("ZIP bomb");
    expect(resultText(415, null, "Unsupported file type")).toBe("415: Unsupported file type");
  });
});
