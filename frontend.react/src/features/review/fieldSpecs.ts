// The invoice fields (invoice.scanner.processing/fields.py) and the checks a reviewer's
// correction gets before it is sent; the API checks again and answers 422 with its reason.
export type FieldKind = "text" | "date" | "amount" | "currency" | "iban" | "bic" | "tax_id" | "document_type";

/** What a document can be (PATCH /fields accepts these for document_type, never null). */
export const DOCUMENT_TYPES: readonly { value: string; label: string }[] = [
  { value: "invoice", label: "Invoice" },
  { value: "credit_note", label: "Credit note" },
  { value: "receipt", label: "Receipt" },
];

export const FIELD_SPECS: readonly { name: string; kind: FieldKind; core?: boolean }[] = [
  { name: "document_type", kind: "document_type" },
  { name: "invoice_number", kind: "text", core: true },
  { name: "invoice_date", kind: "date", core: true },
  { name: "due_date", kind: "date", core: true },
  { name: "vendor_name", kind: "text", core: true },
  { name: "customer_name", kind: "text" },
  { name: "currency", kind: "currency", core: true },
  { name: "amount", kind: "amount", core: true },
  { name: "vat", kind: "amount", core: true },
  { name: "total", kind: "amount", core: true },
  { name: "amount_due", kind: "amount" },
  { name: "vendor_address", kind: "text" },
  { name: "vendor_tax_id", kind: "tax_id" },
  { name: "customer_address", kind: "text" },
  { name: "customer_tax_id", kind: "tax_id" },
  { name: "purchase_order", kind: "text" },
  { name: "payment_terms", kind: "text" },
  { name: "iban", kind: "iban" },
  { name: "bic", kind: "bic" },
];

export function ibanValid(raw: string): boolean {
  const iban = raw.replace(/\s+/g, "").toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (const ch of moved) {
    const digits = /\d/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
    for (const d of digits) rest = (rest * 10 + Number(d)) % 97;
  }
  return rest === 1;
}

function isoDateValid(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3];
}

/** An amount as printed (1.250,00 · 1,250.00 · 1250) read as a number, or null. */
export function parseAmount(raw: string): number | null {
  let v = raw.replace(/[\s\u00a0'€$£¥]|[A-Z]{3}/g, "");
  if (!/^-?[\d.,]+$/.test(v)) return null;
  const lastComma = v.lastIndexOf(","), lastDot = v.lastIndexOf(".");
  const decimal = lastComma > lastDot && v.length - lastComma - 1 <= 2 ? "," : ".";
  v = decimal === "," ? v.replace(/\./g, "").replace(",", ".") : v.replace(/,/g, "");
  if ((v.match(/\./g) ?? []).length > 1) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Why this corrected value cannot be sent, or null when it can ("" means: no value on the invoice). */
export function validateField(kind: FieldKind, raw: string): string | null {
  const v = raw.trim();
  if (v === "") return null;
  switch (kind) {
    case "document_type":
      return DOCUMENT_TYPES.some((t) => t.value === v) ? null : "Choose invoice, credit note or receipt";
    case "date":
      return isoDateValid(v) ? null : "Use a date as YYYY-MM-DD";
    case "amount":
      return parseAmount(v) === null ? "Not an amount" : null;
    case "currency":
      return /^[A-Za-z]{3}$/.test(v) || /^[€$£¥]$/.test(v) ? null : "Use a 3-letter currency code such as EUR";
    case "iban":
      return ibanValid(v) ? null : "Not a valid IBAN (checksum)";
    case "bic":
      return /^[A-Za-z]{4}[A-Za-z]{2}[A-Za-z0-9]{2}([A-Za-z0-9]{3})?$/.test(v.replace(/\s+/g, "")) ? null : "A BIC has 8 or 11 characters";
    case "tax_id":
      return /^[A-Za-z0-9][A-Za-z0-9 .\-/]{3,}$/.test(v) ? null : "Not a tax id";
    default:
      return v.length > 500 ? "Too long" : null;
  }
}
