import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import { clearSession } from "../features/auth/session";

afterEach(() => {
  cleanup();
  // The test files share one module graph (vite.config.ts: isolate false): clearSession also
  // tells useSession's snapshot, which sessionStorage.clear() alone would leave signed in.
  // (a file in the node environment has no sessionStorage)
  if (globalThis.sessionStorage) {
    clearSession();
    sessionStorage.clear();
  }
});
