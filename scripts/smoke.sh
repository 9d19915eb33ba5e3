#!/usr/bin/env bash
# framerun end-to-end smoke test: a distributed render must equal an in-process one.
#
# Local mode (default, no cloud): starts a private local stack (its own
# FRAMERUN_LOCAL_DIR under mktemp, so a user's stack is never touched), renders a
# fixture in-process as the baseline and through render_to_cloud_run() at several
# chunk sizes, decodes both and fails unless EVERY frame's PSNR >= the threshold.
# The stack is torn down by a trap on exit. The work is in scripts/smoke_compare.py.
#
# --gcp PROJECT mode: builds and pushes the image with Cloud Build, `terraform
# apply`s terraform/, renders the same cases against CloudRunTarget.from_terraform,
# compares, and `terraform destroy`s in a trap. See docs/deploy-gcp.md.
#
# --corrupt-chunk (or FRAMERUN_SMOKE_CORRUPT=1) is the test hook proving the PSNR
# gate bites: after the first multi-chunk case is downloaded, bytes in the middle
# of its largest packet (the mdat payload) are flipped, so it decodes to wrong
# pixels and the run must FAIL with a non-zero exit. (Assembling a chunk from a
# different plan is refused by assemble itself; the engine's CHUNK_MISMATCH tests
# cover that.)
#
# Exit codes:
#   0  every case passed
#   1  a case failed the PSNR gate (or decoded to the wrong number of frames)
#   2  bad arguments
#   3  a prerequisite is missing or the target could not be started/deployed
#   4  a render failed, the target's outputs could not be read, or the helper crashed
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FRAMERUN_VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
FRAMERUN="$VENV/bin/framerun"

usage() {
  cat <<'EOF'
usage: scripts/smoke.sh [options]

  --formats LIST          formats to render, comma-separated: mp4, webm, mov,
                          png-sequence (default: mp4,webm)
  --chunk-sizes LIST      chunk sizes, comma-separated, "whole" = one chunk
                          (default: 15,40,whole — the fixture has 60 frames)
  --psnr-threshold DB     every frame must reach this PSNR (default: 40)
  --corrupt-chunk         test hook: damage one case's video; the run must fail
                          (also FRAMERUN_SMOKE_CORRUPT=1)
  --gcp PROJECT           run against a real deployment in PROJECT (needs gcloud,
                          terraform; builds, applies, renders, destroys)
  --region REGION         with --gcp (default: us-central1)
  --name-prefix PREFIX    with --gcp, terraform's name_prefix (default: framerun-smoke)
  -h, --help              this text

exit codes: 0 pass, 1 PSNR gate failed, 2 bad arguments,
            3 missing prerequisite / target not started, 4 render failed
EOF
}

FORMATS="mp4,webm"
CHUNK_SIZES="15,40,whole"
THRESHOLD="40"
CORRUPT="${FRAMERUN_SMOKE_CORRUPT:-0}"
GCP_PROJECT=""
REGION="us-central1"
NAME_PREFIX="framerun-smoke"

need_value() {
  if [[ $# -lt 2 || -z "$2" ]]; then
    echo "error: $1 needs a value" >&2
    usage >&2
    exit 2
  fi
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --formats) need_value "$@"; FORMATS="$2"; shift 2 ;;
    --chunk-sizes) need_value "$@"; CHUNK_SIZES="$2"; shift 2 ;;
    --psnr-threshold) need_value "$@"; THRESHOLD="$2"; shift 2 ;;
    --corrupt-chunk) CORRUPT=1; shift ;;
    --gcp) need_value "$@"; GCP_PROJECT="$2"; shift 2 ;;
    --region) need_value "$@"; REGION="$2"; shift 2 ;;
    --name-prefix) need_value "$@"; NAME_PREFIX="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ ! -x "$PY" ]]; then
  echo "error: no Python at $PY; run \`make setup\` (or set FRAMERUN_VENV)" >&2
  exit 3
fi

WORK=""
COMPARE_ARGS=()
TF_DIR="$REPO/terraform"
TF_VARS=()
make_workdir() {
  # Called once prerequisites are checked, so a fail-fast exit leaves nothing behind.
  WORK="$(mktemp -d -t framerun-smoke.XXXXXX)"
  COMPARE_ARGS=(
    --workdir "$WORK"
    --formats "$FORMATS"
    --chunk-sizes "$CHUNK_SIZES"
    --psnr-threshold "$THRESHOLD"
  )
  if [[ "$CORRUPT" == "1" ]]; then
    COMPARE_ARGS+=(--corrupt)
  fi
}

run_compare() {
  # Not `exec`: the EXIT trap must still run. Keep its exit status as ours.
  local rc=0
  "$PY" "$REPO/scripts/smoke_compare.py" "${COMPARE_ARGS[@]}" "$@" || rc=$?
  return "$rc"
}

stop_recorded_pids() {
  local stack_json="$1" pid
  [[ -f "$stack_json" ]] || return 0
  for pid in $("$PY" -c 'import json, sys; print(*json.load(open(sys.argv[1]))["pids"].values())' \
    "$stack_json"); do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
}

# ---- local mode ---------------------------------------------------------------------------
local_mode() {
  make_workdir
  export FRAMERUN_LOCAL_DIR="$WORK/stack"
  cleanup_local() {
    local rc=$?
    if ! "$FRAMERUN" local down >/dev/null 2>&1; then
      # e.g. framerun itself no longer imports: stop the recorded process groups directly.
      echo "warning: \`framerun local down\` failed; stopping the stack's pids" >&2
      stop_recorded_pids "$FRAMERUN_LOCAL_DIR/stack.json"
      [[ $rc -ne 0 ]] || rc=3
    fi
    if [[ $rc -eq 0 ]]; then
      rm -rf "$WORK"
    else
      echo "kept $WORK (stack logs in $FRAMERUN_LOCAL_DIR/*.log)" >&2
    fi
    exit "$rc"
  }
  trap cleanup_local EXIT
  trap 'exit 130' INT TERM

  echo "local stack in $FRAMERUN_LOCAL_DIR"
  if ! "$FRAMERUN" local up >/dev/null; then
    echo "error: the local stack did not start; logs in $FRAMERUN_LOCAL_DIR" >&2
    exit 3
  fi
  run_compare --outputs-file "$FRAMERUN_LOCAL_DIR/outputs.json"
}

# ---- --gcp PROJECT mode (cannot run without a project; see docs/deploy-gcp.md) -------------
gcp_mode() {
  local tool
  for tool in gcloud terraform git; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "error: --gcp needs $tool on PATH (see docs/deploy-gcp.md, Prerequisites)" >&2
      exit 3
    fi
  done
  local sha image account member
  if [[ ! -d "$TF_DIR" ]]; then
    echo "error: no terraform module at $TF_DIR" >&2
    exit 3
  fi
  sha="$(git -C "$REPO" rev-parse --short=12 HEAD)"
  image="$REGION-docker.pkg.dev/$GCP_PROJECT/framerun/framerun:$sha"
  # The identity running this script starts executions and uploads sites: grant it.
  account="$(gcloud config get-value account 2>/dev/null)"
  if [[ -z "$account" ]]; then
    echo "error: no gcloud account; run \`gcloud auth login\` first" >&2
    exit 3
  fi
  if [[ "$account" == *.gserviceaccount.com ]]; then
    member="serviceAccount:$account"
  else
    member="user:$account"
  fi
  # Globals, not locals: the EXIT trap runs after this function has returned.
  TF_VARS=(
    -var "project_id=$GCP_PROJECT"
    -var "region=$REGION"
    -var "name_prefix=$NAME_PREFIX"
    -var "image=$image"
    -var "bucket_force_destroy=true"
    -var "caller_members=[\"$member\"]"
  )

  cleanup_gcp() {
    local rc=$?
    echo "tearing down: terraform destroy" >&2
    terraform -chdir="$TF_DIR" destroy -auto-approve -input=false "${TF_VARS[@]}" ||
      echo "warning: terraform destroy failed; run it by hand in $TF_DIR" >&2
    rm -rf "$WORK"
    exit "$rc"
  }

  make_workdir
  gcloud services enable artifactregistry.googleapis.com cloudbuild.googleapis.com \
    --project "$GCP_PROJECT" || exit 3
  if ! gcloud artifacts repositories describe framerun --location "$REGION" \
    --project "$GCP_PROJECT" >/dev/null 2>&1; then
    gcloud artifacts repositories create framerun --repository-format docker \
      --location "$REGION" --project "$GCP_PROJECT" || exit 3
  fi
  gcloud builds submit "$REPO" --tag "$image" --project "$GCP_PROJECT" || exit 3

  terraform -chdir="$TF_DIR" init -input=false || exit 3
  trap cleanup_gcp EXIT
  trap 'exit 130' INT TERM
  terraform -chdir="$TF_DIR" apply -auto-approve -input=false "${TF_VARS[@]}" || exit 3

  # The SDK reads the project from a full workflow_name, else from FRAMERUN_PROJECT.
  export FRAMERUN_PROJECT="$GCP_PROJECT"
  run_compare --from-terraform "$TF_DIR"
}

if [[ -n "$GCP_PROJECT" ]]; then
  gcp_mode
else
  local_mode
fi
