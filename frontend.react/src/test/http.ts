// A stand-in for the network in component tests: answers by method and path from a script.
import { vi } from "vitest";

export type Reply = { status?: number; body?: unknown; headers?: Record<string, string> };
export type Handler = (req: Request) => Reply | Promise<Reply>;

export function mockFetch(routes: Record<string, Handler>) {
  const calls: { method: string; path: string; request: Request }[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost"), init);
    const url = new URL(request.url);
    const key = `${request.method} ${url.pathname}`;
    calls.push({ method: request.method, path: url.pathname + url.search, request });
    const handler = routes[key];
    if (!handler) return new Response(JSON.stringify({ code: 404, message: `no route ${key}` }), { status: 404 });
    const r = await handler(request);
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), {
      status: r.status ?? 200, headers: { "Content-Type": "application/json", ...(r.headers ?? {}) },
    });
  });
  vi.stubGlobal("fetch", fn);
  return { fn, calls };
}
