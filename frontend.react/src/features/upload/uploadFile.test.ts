// @vitest-environment node
// Node's own FormData, File and Request (jsdom's File cannot be streamed into a fetch body).
import { describe, expect, it } from "vitest";
import { mockFetch } from "../../test/http";
import { describeRejection, uploadFile } from "./uploadFile";

const file = () => new File([new Uint8Array([37, 80, 68, 70])], "a.pdf", { type: "application/pdf" });
const created = { status: 201, body: { message: "ok", document: { id: "d1", status: "preprocessing" }, task_id: "t" } };

describe("uploadFile", () => {
  it("sends the file as multipart and answers the new id", async () => {
    const { calls } = mockFetch({ "POST /documents/upload": () => created });
    expect(await uploadFile(file())).toEqual({ kind: "uploaded", documentId: "d1" });
    const sent = calls[0].request;
    expect(sent.headers.get("Content-Type")).toMatch(/^multipart\/form-data; boundary=/);
    const body = await new Response(sent.body).text();
    expect(body).toContain('name="file"; filename="a.pdf"');
  });

  it("answers a duplicate with the existing document", async () => {
    mockFetch({ "POST /documents/upload": () => ({ status: 409, body: { code: 409, message: "This file was already uploaded", document_id: "old" } }) });
    expect(await uploadFile(file())).toMatchObject({ kind: "duplicate", documentId: "old" });
  });

  it("retries a 503 and then succeeds", async () => {
    let n = 0;
    const { calls } = mockFetch({ "POST /documents/upload": () => (n++ < 2 ? { status: 503, body: { code: 503, message: "db down" }, headers: { "Retry-After": "5" } } : created) });
    const delays: (number | undefined)[] = [];
    const out = await uploadFile(file(), { retryDelayMs: (_a, after) => { delays.push(after); return 1; } });
    expect(out).toEqual({ kind: "uploaded", documentId: "d1" });
    expect(calls).toHaveLength(3);
    expect(delays).toEqual([5, 5]); // Retry-After honoured
  });

  it("gives up after repeated 503s with a message to try again", async () => {
    mockFetch({ "POST /documents/upload": () => ({ status: 503, body: { code: 503, message: "down" } }) });
    expect(await uploadFile(file(), { retryDelayMs: () => 1 })).toMatchObject({ kind: "unavailable" });
  });

  it.each([[415, "not a PDF"], [413, "too large"], [422, "cannot be processed"], [400, "empty"]])(
    "explains a %i", async (code, words) => {
      mockFetch({ "POST /documents/upload": () => ({ status: code, body: { code, message: "API says why" } }) });
      const out = await uploadFile(file());
      expect(out).toMatchObject({ kind: "rejected", status: code });
      expect((out as { message: string }).message.toLowerCase()).toContain(words.toLowerCase());
      expect((out as { message: string }).message).toContain("API says why");
    });

  it("words every rejection", () => {
    expect(describeRejection(418, "")).toBe("The upload failed (HTTP 418).");
  });
});
