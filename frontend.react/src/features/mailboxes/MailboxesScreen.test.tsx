import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockFetch } from "../../test/http";
import { renderWithProviders } from "../../test/render";
import { parseSenders, pollState, type Mailbox } from "./mailboxApi";
import MailboxesScreen, { bodyOf } from "./MailboxesScreen";

const box = (over: Partial<Mailbox> = {}): Mailbox => ({
  id: "m1", name: "AP inbox", host: "imap.acme.test", port: 993, security: "ssl", username: "ap@acme.test",
  auth: "password", folder: "INBOX", allowed_senders: ["@supplier.test"], after_import: "mark_read", move_to: null,
  enabled: true, last_poll_at: "2026-12-01T10:00:00Z", last_success_at: "2026-12-01T10:00:00Z", last_error: null,
  polls: 12, poll_failures: 1, idle: true, created_at: "2026-11-30T08:00:00Z", ...over,
});

describe("MailboxesScreen", () => {
  it("lists each mailbox with its account, rules and last poll, failing ones with their error", async () => {
    mockFetch({ "GET /mailboxes": () => ({ body: { mailboxes: [
      box(), box({ id: "m2", name: "Scans", last_error: "LoginError: [AUTHENTICATIONFAILED]", last_success_at: null,
        auth: "xoauth2", after_import: "move", move_to: "Imported", allowed_senders: [] }),
    ] } }) });
    renderWithProviders(<MailboxesScreen />, "/app/mailboxes");
    const row = (name: string) => document.querySelector(`[data-mailbox="${name}"]`) as HTMLElement;
    await waitFor(() => expect(row("AP inbox")).toBeTruthy());
    expect(row("AP inbox")).toHaveTextContent("ap@acme.test@imap.acme.test:993");
    expect(row("AP inbox")).toHaveTextContent("from @supplier.test");
    expect(row("AP inbox")).toHaveTextContent("12 polls, 1 failed");
    expect(within(row("AP inbox")).getByTestId("poll-state")).toHaveTextContent("OK (IDLE");
    expect(row("Scans")).toHaveTextContent("OAuth2");
    expect(row("Scans")).toHaveTextContent("then moved to Imported");
    expect(within(row("Scans")).getByTestId("poll-state")).toHaveTextContent("Failing, never succeeded");
    expect(row("Scans")).toHaveTextContent("AUTHENTICATIONFAILED");
  });

  it("adds a mailbox with its rules and shows the API's field errors", async () => {
    const posted: unknown[] = [];
    let answer = 422;
    mockFetch({
      "GET /mailboxes": () => ({ body: { mailboxes: [] } }),
      "POST /mailboxes": async (req) => {
        posted.push(await req.json());
        return answer === 422 ? { status: 422, body: { code: 422, message: "Unprocessable Entity",
          errors: { json: { host: ["Length must be between 1 and 255."] } } } } : { status: 201, body: box() };
      },
    });
    renderWithProviders(<MailboxesScreen />, "/app/mailboxes");
    fireEvent.click(await screen.findByRole("button", { name: "Add mailbox" }));
    const form = screen.getByRole("form", { name: "New mailbox" });
    const fill = (label: string, value: string) => fireEvent.change(within(form).getByLabelText(label), { target: { value } });
    fill("Name", "AP inbox");
    fill("IMAP server", "imap.acme.test");
    fill("User name", "ap@acme.test");
    fill("Sign-in", "xoauth2");
    fill("OAuth2 access token", "ya29.token");
    fill("Allowed senders", "billing@supplier.test, @vendor.test");
    fill("After import", "move");
    fill("Move to", "Imported");
    fireEvent.click(within(form).getByRole("button", { name: "Add mailbox" }));
    expect(await within(form).findByRole("alert")).toHaveTextContent("Length must be between 1 and 255.");
    expect(posted[0]).toEqual({ name: "AP inbox", host: "imap.acme.test", port: 993, security: "ssl",
      username: "ap@acme.test", auth: "xoauth2", access_token: "ya29.token", folder: "INBOX",
      allowed_senders: ["billing@supplier.test", "@vendor.test"], after_import: "move", move_to: "Imported", enabled: true });
    answer = 201;
    fireEvent.click(within(form).getByRole("button", { name: "Add mailbox" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "New mailbox" })).toBeNull());
  });

  it("edits only what changed, keeps the stored secret when left empty, and pauses", async () => {
    const patches: unknown[] = [];
    mockFetch({
      "GET /mailboxes": () => ({ body: { mailboxes: [box()] } }),
      "PATCH /mailboxes/m1": async (req) => { patches.push(await req.json()); return { body: box() }; },
    });
    renderWithProviders(<MailboxesScreen />, "/app/mailboxes");
    fireEvent.click(await screen.findByRole("button", { name: "Edit" }));
    const form = screen.getByRole("form", { name: "Edit AP inbox" });
    fireEvent.change(within(form).getByLabelText("Allowed senders"), { target: { value: "@supplier.test @other.test" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(patches).toHaveLength(1));
    expect(patches[0]).toEqual({ allowed_senders: ["@supplier.test", "@other.test"] });
    fireEvent.click(screen.getByRole("button", { name: "Pause" }));
    await waitFor(() => expect(patches).toHaveLength(2));
    expect(patches[1]).toEqual({ enabled: false });
  });

  it("tells a non-admin that mailboxes are for admins", async () => {
    mockFetch({ "GET /mailboxes": () => ({ status: 403, body: { code: 403, message: "Forbidden" } }) });
    renderWithProviders(<MailboxesScreen />, "/app/mailboxes");
    expect(await screen.findByRole("alert")).toHaveTextContent("Only an admin of your company manages its mailboxes.");
  });
});

describe("mailbox helpers", () => {
  it("parses senders and words the poll state", () => {
    expect(parseSenders(" a@b.test,@c.test\n d@e.test ; ")).toEqual(["a@b.test", "@c.test", "d@e.test"]);
    expect(pollState(box({ enabled: false })).text).toBe("Paused");
    expect(pollState(box({ last_poll_at: null })).text).toBe("Not polled yet");
    expect(pollState(box({ idle: false })).text).toBe("OK (polled every interval)");
    expect(pollState(box({ last_error: "x" })).tone).toBe("bad");
  });

  it("sends a new secret only when one is typed, under its auth's name", () => {
    const draft = { name: "AP inbox", host: "imap.acme.test", port: "993", security: "ssl" as const, username: "ap@acme.test",
      auth: "password" as const, secret: "", folder: "INBOX", senders: "@supplier.test", after_import: "mark_read" as const,
      move_to: "", enabled: true };
    expect(bodyOf(draft, box())).toEqual({});
    expect(bodyOf({ ...draft, secret: "new-pw" }, box())).toEqual({ password: "new-pw" });
  });
});
