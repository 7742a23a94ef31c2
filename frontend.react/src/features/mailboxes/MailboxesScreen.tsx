import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { cloneElement, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { ApiFailure } from "../../api/client";
import { when } from "../documents/format";
import { mailboxApi, parseSenders, pollState, type Mailbox, type MailboxCreate, type MailboxUpdate } from "./mailboxApi";

// The company's IMAP mailboxes (admins): list with each one's last poll, add, edit its account
// and rules, pause, delete, and see what its recent messages gave.

type Auth = "password" | "xoauth2";

interface Draft {
  name: string; host: string; port: string; security: "ssl" | "starttls" | "none"; username: string;
  auth: Auth; secret: string; folder: string; senders: string; after_import: "mark_read" | "move";
  move_to: string; enabled: boolean;
}

const EMPTY: Draft = { name: "", host: "", port: "993", security: "ssl", username: "", auth: "password", secret: "",
  folder: "INBOX", senders: "", after_import: "mark_read", move_to: "", enabled: true };

function draftOf(m: Mailbox): Draft {
  return { name: m.name ?? "", host: m.host ?? "", port: String(m.port ?? 993), security: (m.security ?? "ssl") as Draft["security"],
    username: m.username ?? "", auth: (m.auth ?? "password") as Auth, secret: "", folder: m.folder ?? "INBOX",
    senders: (m.allowed_senders ?? []).join(", "), after_import: (m.after_import ?? "mark_read") as Draft["after_import"],
    move_to: m.move_to ?? "", enabled: m.enabled ?? true };
}

/** The request body for a new mailbox, or the changes for an existing one (an empty secret keeps the stored one). */
export function bodyOf(d: Draft, existing?: Mailbox): MailboxCreate | MailboxUpdate {
  const secretKey = d.auth === "xoauth2" ? "access_token" : "password";
  const common = { name: d.name.trim(), host: d.host.trim(), port: Number(d.port), security: d.security,
    username: d.username.trim(), auth: d.auth, folder: d.folder.trim() || "INBOX",
    allowed_senders: parseSenders(d.senders), after_import: d.after_import,
    move_to: d.after_import === "move" ? d.move_to.trim() || null : null, enabled: d.enabled };
  if (!existing) return { ...common, [secretKey]: d.secret } as MailboxCreate;
  const changes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(common)) {
    const before = (existing as Record<string, unknown>)[k];
    if (JSON.stringify(v) !== JSON.stringify(before ?? (k === "move_to" ? null : undefined))) changes[k] = v;
  }
  if (d.secret) changes[secretKey] = d.secret;
  return changes as MailboxUpdate;
}

function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiFailure)) return {};
  const json = (err.body.errors as { json?: Record<string, string[] | Record<string, string[]>> } | undefined)?.json ?? {};
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, Array.isArray(v) ? v.join(" ") : JSON.stringify(v)]));
}

export default function MailboxesScreen() {
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ["mailboxes"], queryFn: mailboxApi.list, refetchInterval: 10_000 });
  const [editing, setEditing] = useState<Mailbox | "new" | null>(null);
  const [showing, setShowing] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["mailboxes"] });
  const pause = useMutation({ mutationFn: (m: Mailbox) => mailboxApi.update(m.id!, { enabled: !m.enabled }), onSuccess: refresh });
  const remove = useMutation({ mutationFn: (m: Mailbox) => mailboxApi.remove(m.id!), onSuccess: refresh });

  if (list.error) {
    const forbidden = list.error instanceof ApiFailure && list.error.status === 403;
    return <section><h1>Mailboxes</h1><p role="alert" className="error">
      {forbidden ? "Only an admin of your company manages its mailboxes." : list.error.message}</p></section>;
  }
  const boxes = list.data ?? [];
  return (
    <section aria-labelledby="mailboxes-title">
      <h1 id="mailboxes-title">Mailboxes</h1>
      <p className="muted">Invoices sent to these IMAP mailboxes become documents: every accepted attachment of an
        unseen message, from the senders you allow. <button type="button" className="primary"
        onClick={() => setEditing("new")}>Add mailbox</button></p>
      {editing && <MailboxForm existing={editing === "new" ? undefined : editing}
        onDone={() => { setEditing(null); refresh(); }} onCancel={() => setEditing(null)} />}
      <div className="table-wrap">
        <table className="docs" aria-label="Mailboxes">
          <thead><tr><th scope="col">Name</th><th scope="col">Account</th><th scope="col">Rules</th>
            <th scope="col">Last poll</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {boxes.map((m) => {
              const state = pollState(m);
              return (
                <tr key={m.id} data-mailbox={m.name}>
                  <td><strong>{m.name}</strong></td>
                  <td className="small">{m.username}@{m.host}:{m.port} ({m.security}{m.auth === "xoauth2" ? ", OAuth2" : ""})
                    <br />folder {m.folder}</td>
                  <td className="small">{m.allowed_senders?.length ? `from ${m.allowed_senders.join(", ")}` : "from anyone"}
                    <br />{m.after_import === "move" ? `then moved to ${m.move_to}` : "then marked read"}</td>
                  <td className="small">{m.last_poll_at ? when(m.last_poll_at) : "—"}
                    <br />last success {m.last_success_at ? when(m.last_success_at) : "never"}
                    <br />{m.polls ?? 0} polls, {m.poll_failures ?? 0} failed</td>
                  <td><span className={`badge ${state.tone}`} data-testid="poll-state">{state.text}</span>
                    {m.last_error && <p className="error small">{m.last_error}</p>}</td>
                  <td className="actions-cell">
                    <button type="button" onClick={() => setEditing(m)}>Edit</button>{" "}
                    <button type="button" onClick={() => pause.mutate(m)}>{m.enabled ? "Pause" : "Resume"}</button>{" "}
                    <button type="button" onClick={() => setShowing(showing === m.id ? null : m.id!)}>Messages</button>{" "}
                    <button type="button" className="danger" onClick={() => {
                      if (window.confirm(`Delete the mailbox ${m.name}? Its documents stay.`)) remove.mutate(m);
                    }}>Delete</button>
                  </td>
                </tr>
              );
            })}
            {list.data && boxes.length === 0 && <tr><td colSpan={6} className="muted">No mailbox yet.</td></tr>}
          </tbody>
        </table>
      </div>
      {showing && <Messages mailboxId={showing} name={boxes.find((b) => b.id === showing)?.name ?? ""} />}
    </section>
  );
}

function Messages({ mailboxId, name }: { mailboxId: string; name: string }) {
  const messages = useQuery({ queryKey: ["mailbox-messages", mailboxId], queryFn: () => mailboxApi.messages(mailboxId),
    refetchInterval: 10_000 });
  return (
    <section aria-labelledby="messages-title" className="card messages">
      <h2 id="messages-title">Recent messages of {name}</h2>
      {messages.error && <p role="alert" className="error">{messages.error.message}</p>}
      <ul className="history">
        {(messages.data ?? []).map((msg) => (
          <li key={msg.message_id}>
            <strong>{msg.subject || "(no subject)"}</strong> from {msg.sender} · {when(msg.received_at ?? msg.processed_at)}:{" "}
            {msg.documents ? `${msg.documents} document(s)` : `nothing imported (${msg.reason})`}
            {(msg.outcome ?? []).map((o, i) => {
              const doc = o.document_id as string | undefined;
              return <span key={i} className="small"> · {String(o.attachment)} {String(o.code)}
                {doc && <> <Link to={`/app/documents/${doc}`}>open</Link></>}</span>;
            })}
          </li>
        ))}
        {messages.data && messages.data.length === 0 && <li className="muted">No message imported yet.</li>}
      </ul>
    </section>
  );
}

function MailboxForm({ existing, onDone, onCancel }: { existing?: Mailbox; onDone: () => void; onCancel: () => void }) {
  const [d, setD] = useState<Draft>(existing ? draftOf(existing) : EMPTY);
  const save = useMutation({
    mutationFn: async () => {
      if (!existing) return mailboxApi.create(bodyOf(d) as MailboxCreate);
      const changes = bodyOf(d, existing) as MailboxUpdate;
      return Object.keys(changes).length ? mailboxApi.update(existing.id!, changes) : existing; // nothing changed
    },
    onSuccess: onDone,
  });
  const errors = fieldErrors(save.error);
  const set = <K extends keyof Draft>(k: K) => (v: Draft[K]) => setD((x) => ({ ...x, [k]: v }));
  const secretLabel = d.auth === "xoauth2" ? "OAuth2 access token" : "Password";
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }
  const field = (label: string, key: keyof Draft, input: JSX.Element, hint?: string) => {
    const id = `mailbox-${key}`;
    const error = errors[key === "secret" ? (d.auth === "xoauth2" ? "access_token" : "password") : key];
    const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;
    return (
      <div className="form-row">
        <label htmlFor={id}>{label}</label>
        {cloneElement(input, { id, "aria-describedby": described, "aria-invalid": error ? true : undefined })}
        {hint && <span id={`${id}-hint`} className="muted small">{hint}</span>}
        {error && <span id={`${id}-error`} className="error small" role="alert">{error}</span>}
      </div>
    );
  };
  return (
    <form className="card mailbox-form" onSubmit={submit} aria-label={existing ? `Edit ${existing.name}` : "New mailbox"}>
      <h2>{existing ? `Edit ${existing.name}` : "New mailbox"}</h2>
      <div className="form-grid">
        {field("Name", "name", <input required value={d.name} onChange={(e) => set("name")(e.target.value)} />)}
        {field("IMAP server", "host", <input required value={d.host} onChange={(e) => set("host")(e.target.value)} placeholder="imap.example.com" />)}
        {field("Port", "port", <input required type="number" min={1} max={65535} value={d.port} onChange={(e) => set("port")(e.target.value)} />)}
        {field("Security", "security", <select value={d.security} onChange={(e) => set("security")(e.target.value as Draft["security"])}>
          <option value="ssl">SSL/TLS</option><option value="starttls">STARTTLS</option><option value="none">None (local only)</option></select>)}
        {field("User name", "username", <input required value={d.username} onChange={(e) => set("username")(e.target.value)} autoComplete="off" />)}
        {field("Sign-in", "auth", <select value={d.auth} onChange={(e) => set("auth")(e.target.value as Auth)}>
          <option value="password">Password</option><option value="xoauth2">OAuth2 token (XOAUTH2)</option></select>)}
        {field(secretLabel, "secret", <input type="password" required={!existing || d.auth !== existing.auth} value={d.secret}
          onChange={(e) => set("secret")(e.target.value)} autoComplete="new-password" />,
          existing ? "Leave empty to keep the stored one. Stored encrypted, never shown again." : "Stored encrypted, never shown again.")}
        {field("Folder", "folder", <input value={d.folder} onChange={(e) => set("folder")(e.target.value)} />)}
        {field("Allowed senders", "senders", <textarea rows={2} value={d.senders} onChange={(e) => set("senders")(e.target.value)}
          placeholder="billing@supplier.test, @vendor.test" />, "Addresses or @domains, separated by commas; empty: anyone.")}
        {field("After import", "after_import", <select value={d.after_import} onChange={(e) => set("after_import")(e.target.value as Draft["after_import"])}>
          <option value="mark_read">Mark read</option><option value="move">Move to a folder</option></select>)}
        {d.after_import === "move" && field("Move to", "move_to", <input required value={d.move_to} onChange={(e) => set("move_to")(e.target.value)} />)}
        <label className="check"><input type="checkbox" checked={d.enabled} onChange={(e) => set("enabled")(e.target.checked)} /> Poll this mailbox</label>
      </div>
      {save.error && !Object.keys(errors).length && <p role="alert" className="error">{save.error.message}</p>}
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending}>{existing ? "Save changes" : "Add mailbox"}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
