// Builds the dashboard into dist/, which the weir binary embeds: src/app.ts
// bundled and minified, src/app.css minified, src/index.html copied, and
// dist/manifest.json recording the SHA-256 of the sources and of each
// output, which a Go test (platform/ui_test.go) checks.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, readdirSync, mkdirSync, copyFileSync } from "node:fs";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const out = process.argv[2] || join(here, "dist");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "src/app.ts"), join(here, "src/app.css")],
  outdir: out,
  bundle: true,
  minify: true,
  target: "es2020",
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(here, "src/index.html"), join(out, "index.html"));

// The sources: what the outputs are built from. The Go test hashes the
// same files in the same way.
const sources = ["build.mjs", "package.json", "package-lock.json",
  ...readdirSync(join(here, "src")).sort().map((f) => "src/" + f)];
const sha = (b) => createHash("sha256").update(b).digest("hex");
const h = createHash("sha256");
for (const f of sources) {
  h.update(f + "\0");
  h.update(readFileSync(join(here, f)));
  h.update("\0");
}
const outputs = {};
for (const f of readdirSync(out).sort()) {
  if (f !== "manifest.json") outputs[f] = sha(readFileSync(join(out, f)));
}
writeFileSync(join(out, "manifest.json"),
  JSON.stringify({ esbuild: "0.28.2", sources: h.digest("hex"), outputs }, null, 2) + "\n");
