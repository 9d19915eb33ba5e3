#!/usr/bin/env bash
# Install the pinned npm packages (package.json / package-lock.json) and copy the
# files each composition loads into its ignored vendor/ folder, so renders never
# touch a CDN, and HyperFrames' font faces into service/framerun_service/render/fontset/.
# Idempotent; the only place third-party JS and fonts are wired in.
# Also writes examples/video/clip.webm (generated, not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi

# vendor PACKAGE "FILE..." DEST...: copy node_modules/PACKAGE/FILE into each
# DEST/vendor/ and record the package's version and licence in its LICENSES.txt.
declare -A started=()
dests=()
vendor() {
  local pkg="$1" files="$2"; shift 2
  local meta="node_modules/$pkg/package.json"
  local line
  line="$pkg $(node -p "require('./$meta').version") — $(node -p "require('./$meta').license")"
  for dest in "$@"; do
    mkdir -p "$dest/vendor"
    for file in $files; do cp -f "node_modules/$pkg/$file" "$dest/vendor/"; done
    if [ -z "${started[$dest]:-}" ]; then : > "$dest/vendor/LICENSES.txt"; started[$dest]=1; dests+=("$dest"); fi
    printf '%s\n' "$line" >> "$dest/vendor/LICENSES.txt"
  done
}

vendor gsap "dist/gsap.min.js" examples/hello examples/bench examples/hf-titles examples/hf-scenes
vendor animejs "dist/bundles/anime.umd.min.js" examples/anime
vendor lottie-web "build/player/lottie.min.js" examples/lottie
# three.module.js imports ./three.core.js.
vendor three "build/three.module.js build/three.core.js" examples/three
echo "vendored JS into: ${dests[*]}"

# HyperFrames' bundled font faces (service/framerun_service/render/fontset.json) for the engine.
node scripts/install-fontset.mjs node_modules service/framerun_service/render/fontset

# The video example's source: a generated clip, remade when its script changes.
clip=examples/video/clip.webm
if [ ! -f "$clip" ] || [ examples/video/make_clip.py -nt "$clip" ]; then
  if [ -x .venv/bin/python ]; then
    .venv/bin/python examples/video/make_clip.py "$clip"
  else
    echo "skipped $clip: no .venv yet (make setup creates it; then rerun this script)" >&2
  fi
fi
