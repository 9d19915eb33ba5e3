"""Where a deployment lives and what it remembers: shared by ``deploy`` and ``destroy``.

Each deployment (project, region, name prefix) has a folder of its own under
``~/.cache/framerun/deploy`` (``FRAMERUN_DEPLOY_DIR``): a copy of ``terraform/``
and ``workflows/render.yaml`` with the Terraform state next to it, ``deploy.json``
(what deploy made and with which variables, which ``destroy`` needs) and
``outputs.json`` (for ``--outputs-file``). A shared checkout's ``terraform/``
would hold one state for every project; a folder per deployment cannot mix them
up, and works from a read-only install. Files are written to a temp file and
renamed, so none is ever half written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framerun_service.core.errors import TargetNotConfiguredError

ENV_DEPLOY_DIR = "FRAMERUN_DEPLOY_DIR"
RECORD_FILE = "deploy.json"
OUTPUTS_FILE = "outputs.json"
IMAGE_NAME = "framerun"
BUCKET_RESOURCE = "google_storage_bucket.renders"  # terraform/storage.tf
# Terraform prints less "what to do next" advice when it knows a program runs it.
TERRAFORM_ENV = {"TF_IN_AUTOMATION": "1"}

Echo = Callable[[str], None]


def default_state_root() -> Path:
    """Where deployments' folders live: ``FRAMERUN_DEPLOY_DIR``, else the user's cache."""
    return Path(os.environ.get(ENV_DEPLOY_DIR) or Path.home() / ".cache" / "framerun" / "deploy")


def deployment_dir(state_root: Path, project: str, region: str, name_prefix: str) -> Path:
    """The folder of one deployment: state, record and outputs."""
    return state_root / f"{project}.{region}.{name_prefix}"


@dataclass(frozen=True)
class DeploySettings:
    """What one deploy is asked to do; the same settings give the same deployment."""

    project: str
    region: str
    name_prefix: str = "framerun"
    callers: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # extra terraform -var NAME=VALUE, in order
    state_root: Path = field(default_factory=default_state_root)

    @property
    def repository(self) -> str:
        """The Artifact Registry repository: one per name prefix, so two deployments in
        one project and region never delete each other's images."""
        return self.name_prefix

    def image(self, tag: str) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.repository}/{IMAGE_NAME}:{tag}"

    @property
    def directory(self) -> Path:
        return deployment_dir(self.state_root, self.project, self.region, self.name_prefix)


class Steps:
    """Numbered step headers: ``[2/5] image repository …``."""

    def __init__(self, total: int, echo: Echo) -> None:
        self.total, self.done, self.echo = total, 0, echo

    def next(self, what: str) -> None:
        self.done += 1
        self.echo(f"[{self.done}/{self.total}] {what} …")


def var_flags(variables: Mapping[str, str]) -> list[str]:
    return [arg for name, value in variables.items() for arg in ("-var", f"{name}={value}")]


def load_record(folder: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise TargetNotConfiguredError(
            f"cannot read {folder / RECORD_FILE} ({exc}); restore it, or remove {folder} "
            "if that deployment no longer exists"
        ) from None
    return loaded if isinstance(loaded, dict) else None


def save_record(folder: Path, record: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / RECORD_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write to a temp file beside ``path`` and rename it: no half-written file."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
