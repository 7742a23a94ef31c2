import { describe, expect, it } from "vitest";
import { displayHeight, fieldAt, fieldBoxes, nextZoom, toPixels, unitRect, wordBoxes } from "./geometry";

describe("overlay geometry", () => {
  it("reads a fraction box as an ordered, clamped rect of the unit square", () => {
    expect(unitRect([0.1, 0.2, 0.3, 0.25])).toEqual({ x: 0.1, y: 0.2, width: expect.closeTo(0.2), height: expect.closeTo(0.05) });
    expect(unitRect([0.3, 0.25, 0.1, 0.2])).toEqual(unitRect([0.1, 0.2, 0.3, 0.25])); // corners in any order
    expect(unitRect([-0.1, 0.9, 0.2, 1.4])).toEqual({ x: 0, y: 0.9, width: 0.2, height: expect.closeTo(0.1) });
    for (const bad of [null, undefined, [], [0.1, 0.2, 0.3], [0.1, 0.1, 0.1, 0.5], [0, 0, NaN, 1], [2, 2, 3, 3]]) {
      expect(unitRect(bad as number[] | null)).toBeNull();
    }
  });

  it("places a box on the page at any zoom", () => {
    const r = unitRect([0.5, 0.25, 0.75, 0.5])!;
    expect(toPixels(r, 800, 1131)).toEqual({ x: 400, y: 282.75, width: 200, height: 282.75 });
    expect(toPixels(r, 1600, 2262)).toEqual({ x: 800, y: 565.5, width: 400, height: 565.5 });
    expect(displayHeight(1654, 2339, 760)).toBeCloseTo(1074.75, 1); // A4 at 200 dpi shown 760 px wide
    expect(displayHeight(0, 100, 760)).toBe(0);
  });

  it("keeps the boxes of the fields read on that page only", () => {
    const boxes = fieldBoxes({
      total: { value: 1250, confidence: 0.97, page: 1, bbox: [0.7, 0.86, 0.9, 0.88] },
      iban: { value: "DE89", confidence: 0.5, page: 2, bbox: [0.1, 0.9, 0.4, 0.92] },
      currency: { value: "EUR", confidence: 0.99, page: null, bbox: null },
      vat: { value: 250, confidence: 0.6, page: 1, bbox: [0.7, 0.83, 0.7, 0.85] }, // zero width: not drawn
    }, 1);
    expect(boxes).toHaveLength(1);
    expect(boxes[0]).toMatchObject({ name: "total", confidence: 0.97, x: 0.7, y: 0.86 });
  });

  it("hits the innermost field box under a point", () => {
    const boxes = fieldBoxes({
      vendor_address: { confidence: 0.8, page: 1, bbox: [0.1, 0.1, 0.5, 0.3] },
      vendor_name: { confidence: 0.9, page: 1, bbox: [0.1, 0.1, 0.4, 0.13] },
    }, 1);
    expect(fieldAt(boxes, 0.2, 0.12)?.name).toBe("vendor_name");
    expect(fieldAt(boxes, 0.2, 0.2)?.name).toBe("vendor_address");
    expect(fieldAt(boxes, 0.8, 0.8)).toBeNull();
  });

  it("draws every OCR word, and a line without words as one box", () => {
    const words = wordBoxes({ page_no: 1, lines: [
      { text: "Invoice INV-7", bbox: [0.1, 0.1, 0.5, 0.15], confidence: 0.9,
        words: [{ text: "Invoice", bbox: [0.1, 0.1, 0.3, 0.15], confidence: 0.99 }, { text: "INV-7", bbox: [0.32, 0.1, 0.5, 0.15], confidence: 0.8 }] },
      { text: "Total", bbox: [0.1, 0.8, 0.2, 0.82], confidence: 0.7, words: [] },
    ] });
    expect(words.map((w) => w.text)).toEqual(["Invoice", "INV-7", "Total"]);
  });

  it("zooms in steps and stops at both ends", () => {
    expect(nextZoom(1, 1)).toBe(1.25);
    expect(nextZoom(1, -1)).toBe(0.75);
    expect(nextZoom(3, 1)).toBe(3);
    expect(nextZoom(0.5, -1)).toBe(0.5);
  });
});
