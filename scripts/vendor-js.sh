#!/usr/bin/env bash
# Install the pinned npm packages (package.json / package-lock.json) and copy the
# files each composition loads into its ignored vendor/ folder, so renders never
# touch a CDN. Idempotent; the only place third-party JS is wired to examples.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi

# source (in node_modules)        destination folders (each gets vendor/<basename>)
copy() {
  local src="$1"; shift
  for dest in "$@"; do
    mkdir -p "$dest/vendor"
    cp -f "node_modules/$src" "$dest/vendor/"
  done
}

GSAP_USERS=(examples/hello examples/bench)
copy gsap/dist/gsap.min.js "${GSAP_USERS[@]}"
for dest in "${GSAP_USERS[@]}"; do
  printf 'gsap %s — %s\n' "$(node -p "require('./node_modules/gsap/package.json').version")" \
    "$(node -p "require('./node_modules/gsap/package.json').license")" > "$dest/vendor/LICENSES.txt"
done
echo "vendored JS into: ${GSAP_USERS[*]}"
