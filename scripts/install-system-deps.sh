#!/usr/bin/env bash
# The one place framerun names its system packages. Used by `make setup`, CI
# (.ci/run) and the Dockerfile, so all three install exactly the same things.
# Idempotent: skips apt entirely when every package is already installed.
set -euo pipefail

PACKAGES=(
  chromium-headless-shell   # the capture browser (/usr/lib/chromium/chromium-headless-shell)
  fonts-dejavu-core         # deterministic default fonts for compositions
  fonts-liberation          # metric-compatible Arial/Times/Courier substitutes
  fonts-noto-color-emoji    # emoji render the same on every worker
  ca-certificates
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system deps: all present (${#PACKAGES[@]} packages)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "system deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ -n "${FRAMERUN_APT_CLEAN:-}" ]; then
  $SUDO rm -rf /var/lib/apt/lists/*
fi
