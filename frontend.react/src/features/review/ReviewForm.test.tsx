import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ibanValid, parseAmount, validateField } from "./fieldSpecs";
import { ReviewForm } from "./ReviewForm";

const fields = {
  document_type: { value: "invoice", confidence: 0.9, page: null, bbox: null },
  invoice_number: { value: "INV-1", confidence: 0.98, page: 1, bbox: [0.1, 0.1, 0.3, 0.12] },
  invoice_date: { value: "2024-12-21", confidence: 0.95, page: 1, bbox: null },
  total: { value: 1250, confidence: 0.6, page: 1, bbox: [0.7, 0.86, 0.9, 0.88] },
  iban: { value: "DE89370400440532013000", confidence: 0.9, page: 1, bbox: null },
};

function setup(extra: Partial<Parameters<typeof ReviewForm>[0]> = {}) {
  const props = { onSave: vi.fn(), onApprove: vi.fn(), onReject: vi.fn(), onNext: vi.fn(), onSelect: vi.fn(), ...extra };
  render(<ReviewForm fields={fields} {...props} />);
  return props;
}

describe("ReviewForm", () => {
  it("moves to the next field on Enter and marks the field accepted", async () => {
    const user = userEvent.setup();
    const p = setup();
    await user.click(screen.getByLabelText("Invoice number"));
    expect(p.onSelect).toHaveBeenCalledWith("invoice_number");
    await user.keyboard("{Enter}");
    expect(screen.getByLabelText("Invoice date")).toHaveFocus();
    expect(document.querySelector('[data-field-row="invoice_number"]')).toHaveClass("accepted");
    await user.keyboard("{Alt>}{ArrowUp}{/Alt}");
    expect(screen.getByLabelText("Invoice number")).toHaveFocus();
  });

  it("validates a correction before it can be sent", async () => {
    const user = userEvent.setup();
    const p = setup();
    const iban = screen.getByLabelText("Iban");
    await user.clear(iban);
    await user.type(iban, "DE89 3704 0044 0532 0130 01");
    expect(iban).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("Not a valid IBAN (checksum)")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: /Approve/ })).toBeDisabled();
    await user.keyboard("{Control>}{Enter}{/Control}");
    expect(p.onApprove).not.toHaveBeenCalled();
    await user.clear(screen.getByLabelText("Invoice date"));
    await user.type(screen.getByLabelText("Invoice date"), "2024-02-30");
    expect(screen.getByText("Use a date as YYYY-MM-DD")).toBeInTheDocument();
  });

  it("saves only the changed fields with Ctrl+S, and approves with pending corrections on Ctrl+Enter", async () => {
    const user = userEvent.setup();
    const p = setup();
    const total = screen.getByLabelText("Total");
    await user.clear(total);
    await user.type(total, "1.350,00");
    await user.keyboard("{Control>}s{/Control}");
    expect(p.onSave).toHaveBeenCalledWith({ total: "1.350,00" });
    expect(total).toHaveFocus();
    await user.clear(screen.getByLabelText("Due date"));
    await user.type(screen.getByLabelText("Due date"), "2025-01-20");
    await user.keyboard("{Control>}{Enter}{/Control}");
    expect(p.onApprove).toHaveBeenCalledWith({ total: "1.350,00", due_date: "2025-01-20" });
  });

  it("clears a value to null, rejects with a reason, and goes to the next document", async () => {
    const user = userEvent.setup();
    const p = setup();
    await user.clear(screen.getByLabelText("Invoice number"));
    fireEvent.submit(screen.getByRole("form", { name: "Correct fields" }));
    expect(p.onSave).toHaveBeenCalledWith({ invoice_number: null });
    await user.keyboard("{Alt>}r{/Alt}");
    const reason = screen.getByLabelText("Why is this document rejected?");
    expect(reason).toHaveFocus();
    expect(screen.getByRole("button", { name: "Reject" })).toBeDisabled();
    await user.type(reason, "Not our invoice");
    await user.click(screen.getByRole("button", { name: "Reject" }));
    expect(p.onReject).toHaveBeenCalledWith("Not our invoice");
    await user.click(screen.getByLabelText("Total"));
    await user.keyboard("{Alt>}n{/Alt}");
    expect(p.onNext).toHaveBeenCalled();
  });

  it("corrects the document type by a choice of three, sent as its API value", async () => {
    const user = userEvent.setup();
    const p = setup();
    const type = screen.getByLabelText("Document type");
    expect(type).toHaveValue("invoice");
    expect(Array.from((type as HTMLSelectElement).options).map((o) => o.value)).toEqual(["invoice", "credit_note", "receipt"]);
    await user.selectOptions(type, "Credit note");
    await user.keyboard("{Control>}s{/Control}");
    expect(p.onSave).toHaveBeenCalledWith({ document_type: "credit_note" });
    await user.keyboard("{Enter}");
    expect(screen.getByLabelText("Invoice number")).toHaveFocus();
  });

  it("keeps the fields usable (and focused) while a request runs, but not the actions", () => {
    render(<ReviewForm fields={fields} busy onSave={vi.fn()} onApprove={vi.fn()} onReject={vi.fn()} />);
    expect(screen.getByLabelText("Total")).toBeEnabled();
    expect(screen.getByRole("button", { name: /Approve/ })).toBeDisabled();
  });

  it("shows the API's field errors and disables everything when read-only", () => {
    render(<ReviewForm fields={fields} serverErrors={{ total: "total does not match net + tax" }} readOnly
      onSave={vi.fn()} onApprove={vi.fn()} onReject={vi.fn()} />);
    expect(screen.getByText("total does not match net + tax")).toBeInTheDocument();
    expect(screen.getByLabelText("Total")).toBeDisabled();
    expect(screen.getByRole("button", { name: /Approve/ })).toBeDisabled();
  });
});

describe("field checks", () => {
  it("checks IBANs, amounts, dates and currencies", () => {
    expect(ibanValid("DE89 3704 0044 0532 0130 00")).toBe(true);
    expect(ibanValid("DE89 3704 0044 0532 0130 01")).toBe(false);
    expect(ibanValid("GB82WEST12345698765432")).toBe(true);
    expect(parseAmount("1.250,00")).toBe(1250);
    expect(parseAmount("1,250.00")).toBe(1250);
    expect(parseAmount("€ 3.00")).toBe(3);
    expect(parseAmount("12,5")).toBe(12.5);
    expect(parseAmount("abc")).toBeNull();
    expect(validateField("date", "2024-02-29")).toBeNull();
    expect(validateField("date", "2023-02-29")).not.toBeNull();
    expect(validateField("currency", "EUR")).toBeNull();
    expect(validateField("currency", "EURO")).not.toBeNull();
    expect(validateField("bic", "COBADEFFXXX")).toBeNull();
    expect(validateField("amount", "")).toBeNull(); // cleared: no value on the invoice
    expect(validateField("document_type", "receipt")).toBeNull();
    expect(validateField("document_type", "bill")).not.toBeNull();
  });
});
