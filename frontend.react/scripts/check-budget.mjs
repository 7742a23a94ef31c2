// Bundle budget: the JavaScript the first screen loads (the entry script of dist/index.html and
// every module it preloads), gzipped, must stay within BUDGET_KB. Run by `npm run build`.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const BUDGET_KB = 250;

/** Script and modulepreload URLs of the built index.html (same-origin paths). */
export function firstScreenScripts(html) {
  const urls = new Set();
  for (const m of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)) urls.add(m[1]);
  for (const m of html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*\bhref="([^"]+)"/g)) urls.add(m[1]);
  return [...urls];
}

/** Inline scripts would break the Content-Security-Policy the API serves (script-src 'self'). */
export function inlineScripts(html) {
  return [...html.matchAll(/<script\b(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).filter((s) => s.trim());
}

function main() {
  const dist = resolve(dirname(fileURLToPath(import.meta.url)), "..", "dist");
  const html = readFileSync(resolve(dist, "index.html"), "utf8");
  if (inlineScripts(html).length) {
    console.error("dist/index.html has an inline script: the served CSP (script-src 'self') would block it");
    process.exit(1);
  }
  let total = 0;
  for (const url of firstScreenScripts(html)) {
    const size = gzipSync(readFileSync(resolve(dist, "." + url))).length;
    total += size;
    console.log(`  ${url}  ${(size / 1024).toFixed(1)} KB gzipped`);
  }
  const kb = total / 1024;
  console.log(`first screen JavaScript: ${kb.toFixed(1)} KB gzipped (budget ${BUDGET_KB} KB)`);
  if (kb > BUDGET_KB) {
    console.error(`over the bundle budget by ${(kb - BUDGET_KB).toFixed(1)} KB`);
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
