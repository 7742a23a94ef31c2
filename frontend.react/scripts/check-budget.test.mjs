import { describe, expect, it } from "vitest";
import { firstScreenScripts, inlineScripts } from "./check-budget.mjs";

describe("bundle budget", () => {
  it("counts the entry script and its preloads, and finds inline scripts", () => {
    const html = `<script type="module" crossorigin src="/assets/index-a.js"></script>
      <link rel="modulepreload" crossorigin href="/assets/vendor-b.js"><link rel="stylesheet" href="/assets/x.css">`;
    expect(firstScreenScripts(html)).toEqual(["/assets/index-a.js", "/assets/vendor-b.js"]);
    expect(inlineScripts(html)).toEqual([]);
    expect(inlineScripts("<script>alert(1)</script>")).toEqual(["alert(1)"]);
  });
});
