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
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}", "scripts/**/*.test.mjs"],
    restoreMocks: true,
  },
});
