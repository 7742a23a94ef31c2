import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockFetch } from "../../test/http";
import { renderWithProviders } from "../../test/render";
import UploadScreen from "./UploadScreen";

const pdf = (name: string) => new File([new Uint8Array([37, 80, 68, 70, 45])], name, { type: "application/pdf" });

describe("UploadScreen", () => {
  it("takes many dropped files at once, each with its own outcome", async () => {
    // jsdom's File cannot be streamed into a request body: answer by order (the files are sent in order).
    const answers = [
      { status: 201, body: { document: { id: "d-ok" } } },
      { status: 409, body: { code: 409, message: "already", document_id: "d-old" } },
      { status: 415, body: { code: 415, message: "Unsupported file type" } },
    ];
    let n = 0;
    mockFetch({
      "POST /documents/upload": () => answers[n++],
      "GET /documents/d-ok/status": () => ({ body: { document_id: "d-ok", status: "approved", status_name: "Approved",
        progress: { current_step: 6, total_steps: 6, percentage: 100 } } }),
    });
    renderWithProviders(<UploadScreen />);
    fireEvent.drop(screen.getByTestId("dropzone"), { dataTransfer: { files: [pdf("ok.pdf"), pdf("again.pdf"), pdf("notes.txt")] } });

    const item = (name: string) => document.querySelector(`[data-filename="${name}"]`) as HTMLElement;
    await waitFor(() => expect(within(item("ok.pdf")).getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100"));
    expect(within(item("again.pdf")).getByRole("link", { name: "Open the existing document" }))
      .toHaveAttribute("href", "/app/documents/d-old");
    expect(within(item("notes.txt")).getByRole("alert")).toHaveTextContent("not a PDF, PNG, JPEG or TIFF");
  });
});
