import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState, type MouseEvent, type RefObject } from "react";
import { authorizedFetch, type Schemas } from "../../api/client";
import { confidenceBand } from "./format";
import { displayHeight, fieldAt, fieldBoxes, nextZoom, wordBoxes } from "./geometry";

const BASE_WIDTH = 760;

/** The page image, fetched with the bearer token (never put in a URL) and shown as a blob: URL. */
function usePageImage(documentId: string, pageNo: number) {
  const image = useQuery({
    queryKey: ["page-image", documentId, pageNo],
    queryFn: async () => {
      const r = await authorizedFetch(`/documents/${encodeURIComponent(documentId)}/pages/${pageNo}/image`);
      if (!r.ok) throw new Error(r.status === 404 ? "This page has no image yet" : `HTTP ${r.status}`);
      return r.blob();
    },
    staleTime: Infinity,
  });
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    if (!image.data) return;
    const u = URL.createObjectURL(image.data);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [image.data]);
  return { url, error: image.error };
}

/** The width that fits the page into its scroll area at 100 % (followed as the window resizes). */
function useFitWidth(ref: RefObject<HTMLElement>): number | undefined {
  const [width, setWidth] = useState<number>();
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => setWidth(Math.max(320, Math.floor(el.clientWidth - 2))));
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}

export interface PageViewerProps {
  documentId: string;
  pages: Schemas["Page"][];
  fields: Record<string, Schemas["FieldValue"]> | undefined;
  ocr: Schemas["OcrPage"][] | undefined;
  pageNo: number;
  onPage: (n: number) => void;
  selected: string | null;
  onSelect: (name: string | null) => void;
}

export function PageViewer({ documentId, pages, fields, ocr, pageNo, onPage, selected, onSelect }: PageViewerProps) {
  const [zoom, setZoom] = useState(1);
  const scroller = useRef<HTMLDivElement>(null);
  const [showWords, setShowWords] = useState(true);
  const page = pages.find((p) => p.page_no === pageNo);
  const { url, error } = usePageImage(documentId, pageNo);
  const boxes = useMemo(() => fieldBoxes(fields, pageNo), [fields, pageNo]);
  const words = useMemo(() => wordBoxes(ocr?.find((p) => p.page_no === pageNo)), [ocr, pageNo]);
  const fit = useFitWidth(scroller);
  const width = (fit ?? BASE_WIDTH) * zoom;
  const height = displayHeight(page?.width ?? 1, page?.height ?? 1.414, width);

  function click(e: MouseEvent<SVGSVGElement>) {
    const box = e.currentTarget.getBoundingClientRect();
    const hit = fieldAt(boxes, (e.clientX - box.left) / box.width, (e.clientY - box.top) / box.height);
    onSelect(hit ? hit.name : null);
  }

  return (
    <div className="viewer">
      <div className="toolbar" role="toolbar" aria-label="Page view">
        <button type="button" onClick={() => onPage(pageNo - 1)} disabled={pageNo <= 1}>Previous page</button>
        <span aria-live="polite">Page {pageNo} of {pages.length || 1}</span>
        <button type="button" onClick={() => onPage(pageNo + 1)} disabled={pageNo >= pages.length}>Next page</button>
        <button type="button" onClick={() => setZoom(nextZoom(zoom, -1))} aria-label="Zoom out">−</button>
        <span aria-label="Zoom level">{Math.round(zoom * 100)} %</span>
        <button type="button" onClick={() => setZoom(nextZoom(zoom, 1))} aria-label="Zoom in">+</button>
        <label className="check"><input type="checkbox" checked={showWords} onChange={(e) => setShowWords(e.target.checked)} />
          OCR words</label>
        <span className="legend" aria-label="Box colours">
          <span className="swatch high" /> ≥ 90 % <span className="swatch medium" /> ≥ 70 % <span className="swatch low" /> lower
        </span>
      </div>
      <div className="page-scroll" ref={scroller} tabIndex={0} role="region" aria-label={`Page ${pageNo}, scrollable`}>
        {error && <p role="alert" className="error">{error.message}</p>}
        <div className="page" style={{ width, height }} data-testid="page">
          {url && <img src={url} alt={`Page ${pageNo} of the document`} width={width} height={height} />}
          <svg className="overlay" viewBox="0 0 1 1" preserveAspectRatio="none" width={width} height={height}
            onClick={click} aria-hidden="true" data-testid="overlay">
            {showWords && words.map((w, i) => (
              <rect key={`w${i}`} className="word-box" x={w.x} y={w.y} width={w.width} height={w.height}
                vectorEffect="non-scaling-stroke" data-word-box={w.text} />
            ))}
            {boxes.map((b) => (
              <rect key={b.name} className={`field-box ${confidenceBand(b.confidence)} ${selected === b.name ? "selected" : ""}`}
                x={b.x} y={b.y} width={b.width} height={b.height} vectorEffect="non-scaling-stroke"
                data-field-box={b.name}>
                <title>{b.name}</title>
              </rect>
            ))}
          </svg>
        </div>
      </div>
    </div>
  );
}
