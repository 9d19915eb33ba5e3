"""Fake ``gcloud`` and ``terraform`` executables for the deploy tests (the transport boundary).

Neither Google's APIs nor the Google Terraform provider can run here, so the tests
put these scripts first on PATH. Each appends ``{"tool", "argv", "cwd"}`` to the
JSON-lines file ``$FAKE_LOG`` and behaves enough like the real tool:

- ``terraform`` keeps a state file (``terraform.tfstate`` in its working folder)
  holding the variables of the last apply and the resources made. An apply with
  the same variables prints "No changes." and leaves the state alone;
  ``output -json`` prints the module's four outputs once applied; ``state list``,
  ``state rm``, ``import`` and ``destroy`` edit the resource list. Like the real
  provider, ``destroy`` refuses a bucket that holds objects unless the last apply
  set ``bucket_force_destroy=true``.
- ``gcloud`` keeps ``$FAKE_GCLOUD_STATE``: the Artifact Registry repositories and
  the pushed images; ``describe`` answers from it and ``builds submit`` adds to it.

``$FAKE_FAIL`` set to a command (e.g. ``terraform apply``) makes that command fail
with terraform-like stderr, to test how a failing step is reported.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

# The module's resources as `terraform state list` names them (terraform/*.tf).
RESOURCES = [
    "data.google_project.this",
    "google_cloud_run_v2_service.renderer",
    "google_cloud_run_v2_service_iam_member.invoker_run",
    "google_monitoring_alert_policy.runaway_requests",
    "google_project_iam_member.invoker_logs",
    'google_project_service.apis["run.googleapis.com"]',
    "google_service_account.invoker",
    "google_service_account.renderer",
    "google_storage_bucket.renders",
    "google_storage_bucket_iam_member.renderer_objects",
    "google_workflows_workflow.render",
]
BUCKET = "google_storage_bucket.renders"

_COMMON = r"""
import json, os, sys
from pathlib import Path

def log(tool):
    with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, "argv": sys.argv[1:], "cwd": os.getcwd()}) + "\n")

def fail_if_asked(command, message):
    if os.environ.get("FAKE_FAIL") == command:
        print("working on it…")
        print("", file=sys.stderr)
        print("Error: something went wrong", file=sys.stderr)
        print(message, file=sys.stderr)
        sys.exit(1)
"""

_TERRAFORM = (
    _COMMON
    + r"""
RESOURCES = __RESOURCES__
BUCKET = "google_storage_bucket.renders"
state_file = Path("terraform.tfstate")
state = json.loads(state_file.read_text()) if state_file.exists() else {"vars": {}, "resources": []}

def save():
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True))

def variables(args):
    found = {}
    for i, arg in enumerate(args):
        if arg == "-var":
            name, _, value = args[i + 1].partition("=")
            found[name] = value
    return found

log("terraform")
args = sys.argv[1:]
command = args[0]
if command == "init":
    fail_if_asked("terraform init", "Error: Failed to query available provider packages")
    print("Terraform has been successfully initialized!")
elif command == "apply":
    fail_if_asked("terraform apply", "Error: googleapi: Error 403: Permission denied on resource")
    assert "-auto-approve" in args, "apply must not wait for a 'yes'"
    wanted = variables(args)
    for required in ("project_id", "image"):
        if required not in wanted:
            print(f'Error: No value for required variable "{required}"', file=sys.stderr)
            sys.exit(1)
    missing = [r for r in RESOURCES if r not in state["resources"]]
    if wanted == state["vars"] and not missing:
        print("No changes. Your infrastructure matches the configuration.")
    else:
        if missing and BUCKET in missing and os.environ.get("FAKE_BUCKET_EXISTS"):
            print("Error: googleapi: Error 409: Your previous request to create the named "
                  "bucket succeeded and you already own it., conflict", file=sys.stderr)
            sys.exit(1)
        changed = 0 if not state["vars"] else 1
        state["vars"] = wanted
        state["resources"] = list(RESOURCES)
        save()
        print(f"Apply complete! Resources: {len(missing)} added, {changed} changed, 0 destroyed.")
elif command == "output":
    assert args[1:] == ["-json"]
    fail_if_asked("terraform output", "Error: state snapshot was created by a newer Terraform")
    if BUCKET not in state["resources"] and not state["resources"]:
        print("{}")
    else:
        v = state["vars"]
        p, r, n = v["project_id"], v.get("region", "us-central1"), v.get("name_prefix", "framerun")
        values = {
            "render_bucket_name": f"{p}-{n}-renders",
            "service_url": f"https://{n}-render-123456789012.{r}.run.app",
            "workflow_name": f"projects/{p}/locations/{r}/workflows/{n}-render",
            "region": r,
        }
        print(json.dumps({k: {"sensitive": False, "type": "string", "value": x}
                          for k, x in values.items()}))
elif command == "state" and args[1] == "list":
    print("\n".join(state["resources"]))
elif command == "state" and args[1] == "show":
    if args[-1] not in state["resources"]:
        sys.exit(1)
    v = state["vars"]
    print(f'resource "google_storage_bucket" "renders" {{\n    location = "EU"\n'
          f'    name     = "{v["project_id"]}-{v.get("name_prefix", "framerun")}-renders"\n}}')
elif command == "state" and args[1] == "rm":
    for address in args[2:]:
        state["resources"].remove(address)
        print(f"Removed {address}")
    save()
elif command == "import":
    address = args[-2]
    state["resources"].append(address)
    save()
    print("Import successful!")
elif command == "destroy":
    fail_if_asked("terraform destroy", "Error: Error when reading or editing Service")
    assert "-auto-approve" in args
    if BUCKET in state["resources"] and state["vars"].get("bucket_force_destroy") != "true":
        print("Error: Error trying to delete bucket containing objects without "
              "`force_destroy` set to true", file=sys.stderr)
        sys.exit(1)
    count = len(state["resources"])
    state["resources"] = []
    save()
    print(f"Destroy complete! Resources: {count} destroyed.")
else:
    print(f"fake terraform: unknown command {args}", file=sys.stderr)
    sys.exit(2)
"""
)

_GCLOUD = (
    _COMMON
    + r"""
state_file = Path(os.environ["FAKE_GCLOUD_STATE"])
state = json.loads(state_file.read_text()) if state_file.exists() else {
    "repositories": [], "images": []}

def save():
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True))

def flag(name):
    return args[args.index(name) + 1]

log("gcloud")
args = sys.argv[1:]
if args[:3] == ["config", "get-value", "account"]:
    print(os.environ.get("FAKE_ACCOUNT", ""))
elif args[:2] == ["services", "enable"]:
    print("Operation finished successfully.", file=sys.stderr)
elif args[:3] == ["artifacts", "repositories", "describe"]:
    key = f"{flag('--project')}/{flag('--location')}/{args[3]}"
    if key not in state["repositories"]:
        print(f"ERROR: (gcloud.artifacts.repositories.describe) NOT_FOUND: {key}", file=sys.stderr)
        sys.exit(1)
    print(f"name: {key}")
elif args[:3] == ["artifacts", "repositories", "create"]:
    state["repositories"].append(f"{flag('--project')}/{flag('--location')}/{args[3]}")
    save()
    print(f"Created repository [{args[3]}].", file=sys.stderr)
elif args[:3] == ["artifacts", "repositories", "delete"]:
    state["repositories"].remove(f"{flag('--project')}/{flag('--location')}/{args[3]}")
    save()
elif args[:4] == ["artifacts", "docker", "images", "describe"]:
    if args[4] not in state["images"]:
        print(f"ERROR: (gcloud.artifacts.docker.images.describe) Image not found: {args[4]}",
              file=sys.stderr)
        sys.exit(1)
    print(f"image_summary:\n  fully_qualified_digest: {args[4]}@sha256:0")
elif args[:2] == ["builds", "submit"]:
    fail_if_asked("gcloud builds submit", "ERROR: (gcloud.builds.submit) build failed")
    assert (Path(args[2]) / "Dockerfile").is_file(), "builds submit needs the Dockerfile"
    state["images"].append(flag("--tag"))
    save()
    print("DONE")
else:
    print(f"fake gcloud: unknown command {args}", file=sys.stderr)
    sys.exit(2)
"""
)


def write_fakes(bin_dir: Path, *, tools: tuple[str, ...] = ("gcloud", "terraform")) -> None:
    """Write the fake executables into ``bin_dir`` (run by this test's Python)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    sources = {
        "gcloud": _GCLOUD,
        "terraform": _TERRAFORM.replace("__RESOURCES__", json.dumps(RESOURCES)),
    }
    for tool in tools:
        path = bin_dir / tool
        path.write_text(f"#!{sys.executable} -S\n{sources[tool]}", encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def read_log(log: Path) -> list[dict[str, Any]]:
    """Every command the fakes ran, in order."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def commands(entries: list[dict[str, Any]]) -> list[str]:
    """Each command as ``tool sub sub`` (its verbs, without flags or values), in order."""
    shown = []
    for entry in entries:
        verbs = []
        for arg in entry["argv"]:
            if arg.startswith("-") or "/" in arg or "=" in arg or "." in arg:
                break
            verbs.append(arg)
        shown.append(" ".join([entry["tool"], *verbs]))
    return shown


def fake_env(tmp: Path) -> dict[str, str]:
    """The environment a deploy test runs in: only the fakes on PATH."""
    return {
        "PATH": str(tmp / "bin"),
        "FAKE_LOG": str(tmp / "calls.jsonl"),
        "FAKE_GCLOUD_STATE": str(tmp / "gcloud-state.json"),
        "FAKE_ACCOUNT": "dev@example.com",
        "FRAMERUN_DEPLOY_DIR": str(tmp / "deployments"),
        "HOME": os.environ.get("HOME", str(tmp)),
    }
