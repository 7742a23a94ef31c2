import { defineConfig } from "@playwright/test";
import { execSync } from "node:child_process";

// Run by tests/e2e/test_web_client.py against the real stack (API, workers, PostgreSQL, Redis),
// which passes E2E_BASE_URL and the sign-in. Chromium: $CHROMIUM, else Debian's `chromium`
// on PATH, else Playwright's own (`npx playwright install chromium`).
function chromium(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execSync(`command -v ${name}`, { encoding: "utf8" }).trim() || undefined;
    } catch {
      /* not installed under this name */
    }
  }
  return undefined;
}

export default defineConfig({
  testDir: "e2e",
  timeout: 600_000,
  expect: { timeout: 15_000 },
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: process.env.E2E_BASE_URL ?? "http://127.0.0.1:5000",
    viewport: { width: 1280, height: 900 },
    trace: "retain-on-failure",
    launchOptions: { executablePath: chromium(), args: ["--no-sandbox"] },
  },
});
