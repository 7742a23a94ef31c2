import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { saveSession } from "../features/auth/session";
import { mockFetch } from "../test/http";
import { renderWithProviders } from "../test/render";
import { ScanInvoice } from "./ScanInvoice";

const status = (s: string, name: string, percentage: number, error: string | null = null) => ({
  document_id: "d1", status: s, status_name: name, status_description: "", error,
  progress: { current_step: 0, total_steps: 6, percentage }, quality_score: null,
  created_at: "2024-12-21T12:34:56Z", last_update: "2024-12-21T12:34:56Z",
});

describe("ScanInvoice", () => {
  it("polls the status until it is terminal, then stops", async () => {
    saveSession({ token: "tok-1", email: "a@b.c", expiresAt: Date.now() + 60_000 });
    const script = [status("preprocessing", "Preprocessing", 17), status("ocr_extracting", "OCR Extracting", 33),
      status("automated_evaluation", "Automated Evaluation", 83), status("approved", "Approved", 100)];
    let n = 0;
    const { calls } = mockFetch({ "GET /documents/d1/status": () => ({ body: script[Math.min(n++, script.length - 1)] }) });
    const finished = vi.fn();
    renderWithProviders(<ScanInvoice documentId="d1" label="a.pdf" intervalMs={10} onFinished={finished} />);

    const bar = await screen.findByRole("progressbar", { name: "Progress of a.pdf" });
    await waitFor(() => expect(bar).toHaveAttribute("aria-valuenow", "100"));
    expect(screen.getByText("Approved")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Open" })).toHaveAttribute("href", "/app/documents/d1");
    await waitFor(() => expect(finished).toHaveBeenCalledWith(expect.objectContaining({ status: "approved" })));
    const polls = calls.length;
    expect(polls).toBe(4);
    await new Promise((r) => setTimeout(r, 80));
    expect(calls.length).toBe(polls); // no polling after a terminal status
    // the token travels in the header, never in the URL
    expect(calls[0].request.headers.get("Authorization")).toBe("Bearer tok-1");
    expect(calls.every((c) => !c.path.includes("tok-1"))).toBe(true);
  });

  it("shows the error of a failed stage and stops", async () => {
    mockFetch({ "GET /documents/d2/status": () => ({ body: { ...status("ocr_error", "OCR Error", 33, "OCR engine crashed"), document_id: "d2" } }) });
    renderWithProviders(<ScanInvoice documentId="d2" label="b.pdf" intervalMs={10} />);
    expect(await screen.findByText("OCR engine crashed")).toBeInTheDocument();
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "33");
  });
});
