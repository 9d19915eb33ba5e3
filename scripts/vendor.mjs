// Copy the npm files a composition loads from node_modules into its vendor/ folder, and
// record each package's version and licence in vendor/LICENSES.txt. The one copier:
//
//   node vendor.mjs                                  in a project `framerun init` made:
//                                                    the files its package.json names
//                                                    under "framerun" → "vendor"
//   node vendor.mjs MANIFEST NODE_MODULES EXAMPLES   the repo's examples: MANIFEST
//                                                    (examples/vendor.json) maps each
//                                                    example to {package: [files]}
//
// The versions are whatever package.json / package-lock.json pinned into node_modules.
import fs from "node:fs";
import path from "node:path";

function vendor(dest, packages, nodeModules) {
  const out = path.join(dest, "vendor");
  fs.mkdirSync(out, { recursive: true });
  const licences = [];
  for (const [name, files] of Object.entries(packages)) {
    const meta = JSON.parse(fs.readFileSync(path.join(nodeModules, name, "package.json"), "utf8"));
    for (const file of files) {
      fs.copyFileSync(path.join(nodeModules, name, file), path.join(out, path.basename(file)));
    }
    licences.push(`${name} ${meta.version} — ${meta.license}\n`);
  }
  fs.writeFileSync(path.join(out, "LICENSES.txt"), licences.join(""));
}

const [manifest, nodeModules, examples] = process.argv.slice(2);
if (manifest === undefined) {
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  vendor(".", (pkg.framerun && pkg.framerun.vendor) || {}, "node_modules");
  console.log("vendored JS into vendor/");
} else {
  const wanted = JSON.parse(fs.readFileSync(manifest, "utf8"));
  for (const [example, packages] of Object.entries(wanted)) {
    vendor(path.join(examples, example), packages, nodeModules);
  }
  console.log(`vendored JS into: ${Object.keys(wanted).map((e) => path.join(examples, e)).join(" ")}`);
}
