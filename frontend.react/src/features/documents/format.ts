import type { StatusName } from "../../api/client";

export const STATUS_LABELS: Record<StatusName, string> = {
  preprocessing: "Preprocessing", preprocessed: "Preprocessed", ocr_extracting: "OCR Extracting",
  predicting: "Predicting", extraction: "Extraction", automated_evaluation: "Automated Evaluation",
  approved: "Approved", manual_review: "Manual Review", rejected: "Rejected",
  preprocess_error: "Preprocessing Error", ocr_error: "OCR Error", predict_error: "Prediction Error",
  extraction_error: "Extraction Error", evaluation_error: "Evaluation Error",
};

export function tone(status: string | undefined): string {
  if (!status) return "";
  if (status.endsWith("_error") || status === "rejected") return "bad";
  if (status === "manual_review") return "warn";
  if (status === "approved") return "good";
  return "";
}

export function money(value: number | null | undefined, currency?: string | null): string {
  if (value === null || value === undefined) return "—";
  try {
    return new Intl.NumberFormat(undefined, { style: currency ? "currency" : "decimal", currency: currency ?? undefined,
      minimumFractionDigits: 2 }).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency ?? ""}`.trim();
  }
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Confidence bands used for the colour of a field's box and its badge. */
export function confidenceBand(c: number | null | undefined): "high" | "medium" | "low" {
  if (c === null || c === undefined) return "low";
  if (c >= 0.9) return "high";
  if (c >= 0.7) return "medium";
  return "low";
}
