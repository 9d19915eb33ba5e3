#!/usr/bin/env node
// Copy HyperFrames' bundled font faces out of node_modules into the engine's font set.
//
// usage: node scripts/install-fontset.mjs NODE_MODULES DEST
//
// The faces are listed once, in framerun_service/render/fontset.json; their versions are pinned in
// package.json. DEST gets <key>-latin-<weight>-normal.woff2 for every face and each family's
// OFL licence as <key>.LICENSE.txt. Used by `make setup` (scripts/vendor-js.sh) and by the
// Dockerfile's font stage, so the local engine and the Cloud Run image carry the same bytes.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [nodeModules, dest] = process.argv.slice(2);
if (!nodeModules || !dest) {
  console.error("usage: install-fontset.mjs NODE_MODULES DEST");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const manifest = JSON.parse(readFileSync(join(here, "..", "service", "framerun_service", "render", "fontset.json"), "utf8"));

mkdirSync(dest, { recursive: true });
// Only what the manifest lists: a face dropped from it must not linger in the set.
for (const name of readdirSync(dest)) {
  if (name.endsWith(".woff2") || name.endsWith(".LICENSE.txt")) rmSync(join(dest, name));
}
let faces = 0;
for (const [key, family] of Object.entries(manifest.families)) {
  const pkg = join(nodeModules, family.package);
  if (!existsSync(join(pkg, "package.json"))) {
    console.error(`${family.package} is not installed in ${nodeModules}; run npm ci`);
    process.exit(1);
  }
  for (const weight of family.weights) {
    const file = `${key}-latin-${weight}-normal.woff2`;
    copyFileSync(join(pkg, "files", file), join(dest, file));
    faces += 1;
  }
  copyFileSync(join(pkg, "LICENSE"), join(dest, `${key}.LICENSE.txt`));
}
console.log(`font set: ${faces} faces of ${Object.keys(manifest.families).length} families in ${dest}`);
