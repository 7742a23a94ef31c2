// The whole client in a real browser against the real stack: sign in, upload, watch the
// progress reach 100 %, open the document and see its field boxes, review one that needs a
// person (correct a field, approve), and see it approved in the list; upload a ZIP as a batch;
// add, edit and pause a mailbox and open the document its mail gave. Every screen is checked
// with axe-core (no serious or critical violation) and photographed.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through tests/e2e/test_web_client.py`);
  return v;
};
const shots = process.env.E2E_SCREENSHOTS ?? resolve("e2e", "screenshots");
mkdirSync(shots, { recursive: true });

async function screen(page: Page, name: string) {
  await page.screenshot({ path: resolve(shots, `${name}.png`), fullPage: true });
  await noHorizontalScroll(page); // usable at 1280 px
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`), `axe on ${name}`).toEqual([]);
}

async function noHorizontalScroll(page: Page) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(scroll, "page wider than the viewport").toBeLessThanOrEqual(width);
}

test("upload, watch, inspect, review and approve", async ({ page }) => {
  const cspViolations: string[] = [];
  const urls: string[] = [];
  page.on("console", (m) => { if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspViolations.push(m.text()); });
  page.on("request", (r) => urls.push(r.url()));
  // Every CSP violation the browser reports (securitypolicyviolation), on every page the test opens.
  await page.exposeFunction("reportCspViolation", (what: string) => cspViolations.push(what));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      (window as unknown as { reportCspViolation: (w: string) => void }).reportCspViolation(`${e.violatedDirective} ${e.blockedURI}`));
  });

  // Sign in
  await page.goto("/");
  await expect(page).toHaveURL(/\/app\/login$/);
  await expect(page.getByRole("heading", { name: "Invoice Scanner" })).toBeVisible();
  await screen(page, "signin");
  // The served CSP is enforced: an injected inline script does not run.
  await page.addScriptTag({ content: "window.__injected = true;" }).catch(() => undefined);
  expect(await page.evaluate(() => (window as unknown as { __injected?: boolean }).__injected)).toBeUndefined();
  await page.waitForTimeout(1000); // let its report arrive
  cspViolations.length = 0; // that refusal is the one report expected
  await page.getByLabel("Email").fill(env("E2E_EMAIL"));
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");
  await page.getByLabel("Password").fill(env("E2E_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/app\/documents$/); // where "/" was heading before sign-in
  await page.getByRole("link", { name: "Upload" }).click();
  await expect(page).toHaveURL(/\/app\/upload$/);

  // Upload one invoice and watch its progress bar reach 100 %
  await page.getByLabel("Choose invoice files").setInputFiles(env("E2E_INVOICE"));
  const first = page.locator(".upload-item").first();
  const bar = first.getByRole("progressbar");
  await expect(bar).toBeVisible();
  await expect(bar).toHaveAttribute("aria-valuenow", "100", { timeout: 300_000 });
  await screen(page, "upload");

  // The same file again: a clear duplicate message with a link to the existing document
  await page.getByLabel("Choose invoice files").setInputFiles(env("E2E_INVOICE"));
  await expect(page.locator(".upload-item").first()).toContainText("Already uploaded");
  await expect(page.locator(".upload-item").first().getByRole("link", { name: "Open the existing document" })).toBeVisible();

  // Open it: the page image with its field boxes over it
  await first.getByRole("link", { name: "Open" }).click();
  await expect(page).toHaveURL(/\/app\/documents\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("img", { name: /Page 1 of the document/ })).toBeVisible();
  const fieldBoxes = page.locator("[data-field-box]");
  await expect(fieldBoxes.first()).toBeAttached();
  expect(await fieldBoxes.count()).toBeGreaterThan(3);
  expect(await page.locator("[data-word-box]").count()).toBeGreaterThan(10);
  // Field ↔ box: choosing the invoice number in the table highlights its box
  await page.locator('tr[data-field="invoice_number"] button').click();
  await expect(page.locator('[data-field-box="invoice_number"]')).toHaveClass(/selected/);
  await expect(page.locator('tr[data-field="invoice_number"]')).toHaveClass(/selected/);
  await page.getByRole("button", { name: "Zoom in" }).click();
  await expect(page.getByLabel("Zoom level")).toHaveText("125 %");
  await page.getByRole("button", { name: "Zoom out" }).click();
  await screen(page, "document");

  // Upload one that needs a person
  await page.getByRole("link", { name: "Upload" }).click();
  await page.getByLabel("Choose invoice files").setInputFiles(env("E2E_REVIEW_INVOICE"));
  const second = page.locator(".upload-item").first();
  await expect(second.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100", { timeout: 300_000 });
  await expect(second.locator(".badge")).toHaveText("Manual Review");

  // Review it: the queue, then the document at the keyboard
  await page.getByRole("link", { name: "Review" }).click();
  await expect(page.getByRole("heading", { name: "Review queue" })).toBeVisible();
  // The invoice uploaded for review (the first one may be waiting in the queue too: whether it is
  // approved on its own is the evaluation's call, not this test's)
  const row = page.locator("table.queue tbody tr", { hasText: env("E2E_REVIEW_NUMBER") });
  await expect(row).toBeVisible();
  await screen(page, "review-queue");
  await row.getByRole("link").click();
  await expect(page).toHaveURL(/\/app\/review\/[0-9a-f-]{36}$/);
  const reviewedId = page.url().split("/").pop()!;
  await expect(page.getByText(/You hold this document until/)).toBeVisible();
  const date = page.getByLabel("Invoice date", { exact: true });
  await date.fill("01/03/2024");
  await expect(page.getByText("Use a date as YYYY-MM-DD")).toBeVisible(); // checked before it is sent
  await date.fill(env("E2E_REVIEW_DATE"));
  await date.press("Enter"); // accept and move to the next field
  await expect(page.getByLabel("Due date", { exact: true })).toBeFocused();
  await page.keyboard.press("Control+s");
  await expect(page.getByRole("status").filter({ hasText: "Saved 1 correction" })).toBeVisible();
  await expect(page.getByLabel("Due date", { exact: true })).toBeFocused(); // the keyboard stays where it was
  await expect(page.locator(".history").getByText(/correction/).first()).toBeVisible();
  await screen(page, "review");
  await page.keyboard.press("Control+Enter"); // approve, then on to the next document (or the queue)
  await page.waitForURL((u) => !u.pathname.endsWith(reviewedId), { timeout: 20_000 }).catch(async () => {
    const said = await page.locator('[role="status"], [role="alert"]').allTextContents();
    throw new Error(`approving did not move on; the page says: ${said.join(" | ")}`);
  });

  // The list shows it approved
  await page.getByRole("link", { name: "Documents" }).click();
  const approved = page.locator(`tr[data-document-id="${reviewedId}"] .badge`);
  await expect(approved).toHaveText("Approved");
  await page.getByLabel("Search").fill(env("E2E_REVIEW_NUMBER"));
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.locator("table.docs tbody tr")).toHaveCount(1);
  await expect(approved).toHaveText("Approved");
  await screen(page, "documents");

  // An e-invoice (XRechnung UBL): its values come from the XML, and the validation verdict is shown
  await page.getByRole("link", { name: "Upload" }).click();
  await page.getByLabel("Choose invoice files").setInputFiles(env("E2E_EINVOICE"));
  const xml = page.locator(".upload-item").first();
  await expect(xml.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100", { timeout: 300_000 });
  await xml.getByRole("link", { name: "Open" }).click();
  await expect(page.getByRole("heading", { name: "E-invoice" })).toBeVisible();
  await expect(page.getByTestId("einvoice-verdict")).toHaveText(/^Valid against /);
  await expect(page.locator('tr[data-field="invoice_number"] [data-provenance="xml"]')).toHaveText("XML");
  await expect(page.locator('tr[data-field="total"] [data-provenance="xml"]')).toHaveText("XML");
  await screen(page, "einvoice");

  // A batch: a ZIP of invoices, one result per file (a path leaving the archive refused), then its status
  await page.getByRole("link", { name: "Upload" }).click();
  await page.getByLabel("Choose files or a ZIP for one batch").setInputFiles(env("E2E_BATCH_ZIP"));
  const batch = page.getByTestId("batch-result");
  await expect(batch).toContainText("month-end.zip: 3 file(s), 2 accepted, 1 refused.", { timeout: 60_000 });
  await expect(batch.locator('[data-code="422"]')).toContainText("leaves the archive");
  await expect(page.getByTestId("batch-status")).toContainText("All accepted documents are processed", { timeout: 300_000 });
  await screen(page, "batch");
  await batch.locator('[data-code="201"]').first().getByRole("link", { name: "Open" }).click();
  await expect(page.getByTestId("doc-source")).toContainText("batch upload");
  await expect(page.getByTestId("doc-source-detail")).toContainText("month-end.zip");

  // Mailboxes (an admin): add one on the test's IMAP server, see its poll and what its mail gave,
  // open that document (its source: the mail), edit a rule, pause it
  if (process.env.E2E_IMAP_PORT) {
    await page.getByRole("link", { name: "Mailboxes" }).click();
    await expect(page.getByRole("heading", { name: "Mailboxes" })).toBeVisible();
    await page.getByRole("button", { name: "Add mailbox" }).click();
    const form = page.getByRole("form", { name: "New mailbox" });
    await form.getByLabel("Name", { exact: true }).fill("Supplier invoices");
    await form.getByLabel("IMAP server", { exact: true }).fill("127.0.0.1");
    await form.getByLabel("Port", { exact: true }).fill(env("E2E_IMAP_PORT"));
    await form.getByLabel("Security", { exact: true }).selectOption("none");
    await form.getByLabel("User name", { exact: true }).fill(env("E2E_IMAP_USER"));
    await form.getByLabel("Password", { exact: true }).fill(env("E2E_IMAP_PASSWORD"));
    await form.getByLabel("Allowed senders", { exact: true }).fill("@supplier.test");
    await form.getByRole("button", { name: "Add mailbox" }).click();
    await expect(form).toBeHidden();
    const box = page.locator('[data-mailbox="Supplier invoices"]');
    await expect(box.getByTestId("poll-state")).toContainText("OK", { timeout: 90_000 }); // the mail worker polled it
    await box.getByRole("button", { name: "Messages" }).click();
    const messages = page.locator(".messages");
    await expect(messages).toContainText(env("E2E_MAIL_SUBJECT"), { timeout: 60_000 });
    await expect(messages).toContainText("1 document(s)");
    await screen(page, "mailboxes");
    await box.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("form", { name: "Edit Supplier invoices" });
    await edit.getByLabel("Allowed senders", { exact: true }).fill("@supplier.test, billing@other.test");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await expect(edit).toBeHidden();
    await expect(box).toContainText("from @supplier.test, billing@other.test");
    await box.getByRole("button", { name: "Pause" }).click();
    await expect(box.getByTestId("poll-state")).toHaveText("Paused");
    await messages.getByRole("link", { name: "open" }).first().click();
    await expect(page.getByTestId("doc-source")).toContainText("email");
    await expect(page.getByTestId("doc-source-detail")).toContainText(env("E2E_MAIL_SUBJECT"));
    await expect(page.getByTestId("doc-source-detail")).toContainText("billing@supplier.test");
    await screen(page, "document-mail");
  }

  // Tablet: the document screen still fits
  await page.setViewportSize({ width: 820, height: 1180 });
  await page.goto(`/app/documents/${reviewedId}`);
  await expect(page.locator("[data-field-box]").first()).toBeAttached();
  await noHorizontalScroll(page);
  await page.screenshot({ path: resolve(shots, "document-tablet.png"), fullPage: true });
  for (const path of ["/app/upload", "/app/documents", "/app/review", `/app/review/${reviewedId}`, "/app/mailboxes"]) {
    await page.goto(path);
    await expect(page.locator("main h1")).toBeVisible();
    await noHorizontalScroll(page);
  }

  // The token never travels in a URL, and the CSP never had to block anything
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("invoice-scanner.session") ?? "{}").token);
  expect(token).toBeTruthy();
  expect(urls.filter((u) => u.includes(token))).toEqual([]);
  expect(cspViolations).toEqual([]);

  // Sign out: the token is gone and the API no longer takes it
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/app\/login$/);
  expect(await page.evaluate(() => sessionStorage.getItem("invoice-scanner.session"))).toBeNull();
  const after = await page.request.get("/documents", { headers: { Authorization: `Bearer ${token}` } });
  expect(after.status()).toBe(401);
});
