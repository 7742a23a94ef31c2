/// <reference types="vitest" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the client on :5173 and proxies the API's paths to a running API
// (`make run` puts it on :5000; set API_URL to point elsewhere).
const api = process.env.API_URL ?? "http://127.0.0.1:5000";
const apiPaths = ["/auth", "/documents", "/review", "/vendors", "/stats", "/users", "/exports", "/webhooks", "/health",
  "/metrics", "/openapi.json", "/docs"];

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    strictPort: true,
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: api, changeOrigin: false }])),
  },
  build: {
    outDir: "dist",
    sourcemap: false,
    // Keep every script an external file: the served Content-Security-Policy allows no inline script.
    assetsInlineLimit: 0,
  },
  test: {
    // One process and one jsdom for all the files (a CI machine has 2 cores): a fork and a jsdom
    // per file cost 15.6 s of CPU for 42 tests, one of each 4.8 s. Not isolating is safe because
    // src/test/setup.ts resets what a test leaves (the DOM, the session and its listeners'
    // snapshot) and unstubGlobals puts back what vi.stubGlobal replaced. With several forks and
    // no isolation Vitest would start a new jsdom per file under modules bound to the first one.
    environment: "jsdom",
    pool: "forks",
    isolate: false,
    poolOptions: { forks: { singleFork: true } },
    unstubGlobals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}", "scripts/**/*.test.mjs"],
    restoreMocks: true,
  },
});
