// Boxes from the API are [x0, y0, x1, y1] as fractions of the page (field boxes and OCR boxes
// alike). The overlay draws them in an SVG whose viewBox is the unit square stretched over the
// page image, so a box lands on the same spot at any zoom.
import type { Schemas } from "../../api/client";

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface FieldBox extends Rect {
  name: string;
  confidence: number;
}

/** A fraction box as a rect in the unit square: ordered, clamped to [0, 1]; null when unusable. */
export function unitRect(bbox: readonly number[] | null | undefined): Rect | null {
  if (!bbox || bbox.length !== 4 || bbox.some((v) => typeof v !== "number" || !Number.isFinite(v))) return null;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const [x0, x1] = [clamp(Math.min(bbox[0], bbox[2])), clamp(Math.max(bbox[0], bbox[2]))];
  const [y0, y1] = [clamp(Math.min(bbox[1], bbox[3])), clamp(Math.max(bbox[1], bbox[3]))];
  if (x1 - x0 <= 0 || y1 - y0 <= 0) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The same rect in pixels of a page shown `displayWidth` × `displayHeight`. */
export function toPixels(r: Rect, displayWidth: number, displayHeight: number): Rect {
  return { x: r.x * displayWidth, y: r.y * displayHeight, width: r.width * displayWidth, height: r.height * displayHeight };
}

/** The displayed height of a page of `width` × `height` pixels shown `displayWidth` wide. */
export function displayHeight(width: number, height: number, displayWidth: number): number {
  return width > 0 ? (height / width) * displayWidth : 0;
}

/** The boxes of the fields that were read on `pageNo`. */
export function fieldBoxes(fields: Record<string, Schemas["FieldValue"]> | undefined, pageNo: number): FieldBox[] {
  return Object.entries(fields ?? {}).flatMap(([name, f]) => {
    if (f.page !== pageNo) return [];
    const r = unitRect(f.bbox);
    return r ? [{ ...r, name, confidence: f.confidence ?? 0 }] : [];
  });
}

/** Every OCR word box of a page (lines without words count as one word). */
export function wordBoxes(page: Schemas["OcrPage"] | undefined): (Rect & { text: string; confidence: number })[] {
  return (page?.lines ?? []).flatMap((line) => {
    const words = line.words?.length ? line.words : [{ text: line.text, bbox: line.bbox, confidence: line.confidence }];
    return words.flatMap((w) => {
      const r = unitRect(w.bbox);
      return r ? [{ ...r, text: w.text ?? "", confidence: w.confidence ?? 0 }] : [];
    });
  });
}

/** The smallest field box under a point of the unit square (nested boxes: the inner one wins). */
export function fieldAt(boxes: FieldBox[], x: number, y: number): FieldBox | null {
  const hits = boxes.filter((b) => x >= b.x && x <= b.x + b.width && y >= b.y && y <= b.y + b.height);
  hits.sort((a, b) => a.width * a.height - b.width * b.height);
  return hits[0] ?? null;
}

export const ZOOM_STEPS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3] as const;
export function nextZoom(current: number, direction: 1 | -1): number {
  const i = ZOOM_STEPS.findIndex((z) => z >= current - 1e-9);
  const at = i === -1 ? ZOOM_STEPS.length - 1 : i;
  return ZOOM_STEPS[Math.min(ZOOM_STEPS.length - 1, Math.max(0, at + direction))];
}
