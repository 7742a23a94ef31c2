// The admin's mailbox calls (docs/API_CONTRACT.md, Mailboxes), through the one typed client.
import { api, unwrap, type Schemas } from "../../api/client";

export type Mailbox = Schemas["Mailbox"];
export type MailboxCreate = Schemas["MailboxCreate"];
export type MailboxUpdate = Schemas["MailboxUpdate"];
export type MailMessage = Schemas["MailMessage"];

export const mailboxApi = {
  list: async () => unwrap(await api.GET("/mailboxes")).mailboxes ?? [],
  create: async (body: MailboxCreate) => unwrap(await api.POST("/mailboxes", { body })),
  update: async (id: string, body: MailboxUpdate) =>
    unwrap(await api.PATCH("/mailboxes/{mailbox_id}", { params: { path: { mailbox_id: id } }, body })),
  remove: async (id: string) => {
    unwrap(await api.DELETE("/mailboxes/{mailbox_id}", { params: { path: { mailbox_id: id } } }));
  },
  messages: async (id: string) =>
    unwrap(await api.GET("/mailboxes/{mailbox_id}/messages", { params: { path: { mailbox_id: id } } })).messages ?? [],
};

/** "ap@supplier.test, @vendor.test" or one per line → the API's list. */
export function parseSenders(text: string): string[] {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

/** What the last polls say, in a few words a person reads at a glance. */
export function pollState(m: Mailbox): { tone: "ok" | "warn" | "bad" | "idle"; text: string } {
  if (!m.enabled) return { tone: "idle", text: "Paused" };
  if (!m.last_poll_at) return { tone: "idle", text: "Not polled yet" };
  if (m.last_error) return { tone: "bad", text: m.last_success_at ? "Failing since the last success" : "Failing, never succeeded" };
  return { tone: "ok", text: m.idle ? "OK (IDLE: new mail at once)" : "OK (polled every interval)" };
}
