import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { EInvoicePanel, sourceLabel, sourceRows } from "./DocumentScreen";

describe("EInvoicePanel", () => {
  it("shows the verdict, each finding with its rule id and class, and both values where picture and XML disagree", () => {
    render(<EInvoicePanel einvoice={{
      syntax: "cii", profile: "en16931", claims: ["EN16931", "XRechnung"],
      validation: { valid: false, checked: ["XSD", "EN 16931 Schematron"], not_checked: ["Peppol BIS 3"],
        findings: [{ category: "business_rule", rule: "BR-DE-15", severity: "error", message: "Buyer reference missing" },
          { category: "content", rule: "BR-CO-15", severity: "error", message: "Total with VAT differs" }] },
      cross_check: { agrees: false, disagreements: ["total"], fields: { total: { xml: 1492.26, picture: 2392.26 } } },
    }} />);
    expect(screen.getByTestId("einvoice-verdict")).toHaveTextContent("Not valid against XSD; EN 16931 Schematron");
    expect(screen.getByText(/Not checked: Peppol BIS 3/)).toBeInTheDocument();
    const rule = screen.getByText("BR-DE-15").closest("li")!;
    expect(rule).toHaveTextContent("business-rule error");
    expect(rule).toHaveTextContent("Buyer reference missing");
    expect(screen.getByText("BR-CO-15").closest("li")).toHaveTextContent("content error");
    const table = screen.getByRole("table", { name: "Picture and XML disagree" });
    const row = within(table).getAllByRole("row")[1];
    expect(row).toHaveTextContent("1492.26");
    expect(row).toHaveTextContent("2392.26");
  });

  it("says a valid invoice is valid and lists no findings", () => {
    render(<EInvoicePanel einvoice={{ syntax: "ubl", validation: { valid: true, checked: ["XSD"], findings: [] }, cross_check: null }} />);
    expect(screen.getByTestId("einvoice-verdict")).toHaveTextContent(/^Valid against XSD$/);
    expect(screen.queryByRole("list")).toBeNull();
  });

  it("names every way a document comes in", () => {
    expect(sourceLabel(undefined)).toBe("upload");
    expect(sourceLabel("mail")).toBe("email");
    expect(sourceLabel("folder")).toBe("watched folder");
    expect(sourceLabel("batch")).toBe("batch upload");
  });
});

describe("the document's source", () => {
  it("lists a mail's provenance, a folder's file and a batch's archive entry", () => {
    const mail = sourceRows("mail", { message_id: "<m1@supplier.test>", sender: "billing@supplier.test",
      subject: "Invoice 1", received_at: "2026-12-01T08:00:00+00:00", attachment: "inv-1.pdf", mailbox_id: "x" });
    expect(mail.map(([label]) => label)).toEqual(["From", "Subject", "Received", "Attachment", "Message-ID"]);
    expect(Object.fromEntries(mail)["Message-ID"]).toBe("<m1@supplier.test>");
    expect(Object.fromEntries(sourceRows("folder", { path: "acme/scan.pdf", size: 10 }))).toEqual(
      { File: "acme/scan.pdf", "Size (bytes)": "10" });
    expect(Object.fromEntries(sourceRows("batch", { batch_id: "b1", position: 0, archive: "m.zip", entry: "nov/a.pdf" })))
      .toEqual({ Archive: "m.zip", "Path in the archive": "nov/a.pdf", Position: "1", Batch: "b1" });
    expect(sourceRows("upload", null)).toEqual([]);
  });
});
