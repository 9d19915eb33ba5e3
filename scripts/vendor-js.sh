#!/usr/bin/env bash
# Install the pinned npm packages (package.json / package-lock.json) and copy the
# files each composition loads into its ignored vendor/ folder, so renders never
# touch a CDN, and HyperFrames' font faces into service/framerun_service/render/fontset/.
# Idempotent; which JS each example loads is examples/vendor.json.
# Also writes examples/video/clip.webm (generated, not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi

# Each example's npm files (examples/vendor.json: the one list, which `framerun init`
# also reads) into its vendor/, with vendor/LICENSES.txt.
node scripts/vendor.mjs examples/vendor.json node_modules examples

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
