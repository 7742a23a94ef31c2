import { fireEvent, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { mockFetch } from "../../test/http";
import { renderWithProviders } from "../../test/render";
import { PageViewer } from "./PageViewer";

const fields = {
  invoice_number: { value: "INV-1", confidence: 0.98, page: 1, bbox: [0.1, 0.1, 0.3, 0.12] },
  total: { value: 1250, confidence: 0.62, page: 1, bbox: [0.7, 0.86, 0.9, 0.88] },
  vat: { value: 250, confidence: 0.8, page: 2, bbox: [0.7, 0.83, 0.9, 0.85] },
};
const pages = [{ page_no: 1, width: 1000, height: 1400 }, { page_no: 2, width: 1000, height: 1400 }];
const ocr = [{ page_no: 1, width: 1000, height: 1400, lines: [{ text: "INV-1", bbox: [0.1, 0.1, 0.3, 0.12], confidence: 0.9,
  words: [{ text: "INV-1", bbox: [0.1, 0.1, 0.3, 0.12], confidence: 0.9 }] }] }];

function Harness({ onSelect }: { onSelect: (n: string | null) => void }) {
  const [page, setPage] = useState(1);
  const [selected, setSelected] = useState<string | null>(null);
  return <PageViewer documentId="d1" pages={pages} fields={fields} ocr={ocr} pageNo={page} onPage={setPage}
    selected={selected} onSelect={(n) => { setSelected(n); onSelect(n); }} />;
}

describe("PageViewer overlay", () => {
  it("draws each field box where the API says, coloured by confidence, and selects by click", async () => {
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: () => "blob:page", revokeObjectURL: () => undefined }));
    mockFetch({ "GET /documents/d1/pages/1/image": () => ({ body: "png" }), "GET /documents/d1/pages/2/image": () => ({ body: "png" }) });
    const onSelect = vi.fn();
    renderWithProviders(<Harness onSelect={onSelect} />);

    const overlay = screen.getByTestId("overlay");
    const boxes = () => Array.from(overlay.querySelectorAll("[data-field-box]"));
    expect(boxes().map((b) => b.getAttribute("data-field-box"))).toEqual(["invoice_number", "total"]);
    const total = overlay.querySelector('[data-field-box="total"]')!;
    expect([total.getAttribute("x"), total.getAttribute("y")]).toEqual(["0.7", "0.86"]);
    expect(Number(total.getAttribute("width"))).toBeCloseTo(0.2);
    expect(total).toHaveClass("low");
    expect(overlay.querySelector('[data-field-box="invoice_number"]')).toHaveClass("high");
    expect(overlay.querySelectorAll("[data-word-box]")).toHaveLength(1);
    expect(overlay.getAttribute("viewBox")).toBe("0 0 1 1");
    expect(screen.getByTestId("page")).toHaveStyle({ width: "760px", height: "1064px" });

    // A click at 80 % across, 87 % down of the page lands in the total's box.
    overlay.getBoundingClientRect = () => ({ left: 0, top: 0, width: 760, height: 1064, right: 760, bottom: 1064, x: 0, y: 0, toJSON: () => ({}) });
    fireEvent.click(overlay, { clientX: 0.8 * 760, clientY: 0.87 * 1064 });
    expect(onSelect).toHaveBeenLastCalledWith("total");
    expect(total).toHaveClass("selected");
    fireEvent.click(overlay, { clientX: 10, clientY: 10 });
    expect(onSelect).toHaveBeenLastCalledWith(null);

    fireEvent.click(screen.getByRole("button", { name: "Zoom in" }));
    expect(screen.getByTestId("page")).toHaveStyle({ width: "950px" });
    fireEvent.click(screen.getByRole("button", { name: "Next page" }));
    await waitFor(() => expect(boxes().map((b) => b.getAttribute("data-field-box"))).toEqual(["vat"]));
    expect(screen.getByText("Page 2 of 2")).toBeInTheDocument();
  });
});
