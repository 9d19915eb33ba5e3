"""What ``deploy`` builds from: a framerun checkout, and a content hash of its build context.

The default source is the checkout this package runs from (an editable install
from a clone), so the service deployed is the same version as the client that
will talk to it; else the current folder. Either must hold the Dockerfile, the
``terraform/`` module and ``workflows/render.yaml`` (the module reads it).

The image is tagged by a hash of the files ``gcloud builds submit`` would upload,
so the same sources give the same tag and a second deploy finds the image and
skips the build. The ``terraform/`` folder is left out: the image does not contain
it, and ``terraform init`` writes a lock file there.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from framerun_service.core.errors import DeploySourceNotFoundError

REQUIRED = ("Dockerfile", "terraform/variables.tf", "terraform/outputs.tf", "workflows/render.yaml")
TAG_LENGTH = 12
# Left out of the hash: not in the image, or written by the tools themselves.
_NOT_HASHED_DIRS = ("terraform",)
# Without git, the folders `.gitignore` lists (gcloud skips them too when it uploads).
_UNTRACKED_DIRS = frozenset(
    {
        ".git",
        ".venv",
        ".venv-checkov",
        ".stamps",
        "node_modules",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".hypothesis",
        ".terraform",
        "out",
        "build",
        "vendor",
        "fontset",
    }
)


@dataclass(frozen=True)
class DeploySource:
    """A framerun checkout: where the Dockerfile, the module and the workflow are."""

    root: Path

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    @property
    def workflow_file(self) -> Path:
        return self.root / "workflows" / "render.yaml"


def find_source(source: Path | None = None, *, cwd: Path | None = None) -> DeploySource:
    """``source`` if given; else this package's checkout; else ``cwd``. Refuses a folder
    that is not a framerun checkout, naming what is missing."""
    if source is not None:
        return _checked(source.expanduser().resolve(), given=True)
    package_checkout = Path(__file__).resolve().parents[2]  # sdk/framerun/ → the clone
    for candidate in (package_checkout, (cwd or Path.cwd()).resolve()):
        if not _missing(candidate):
            return DeploySource(candidate)
    return _checked((cwd or Path.cwd()).resolve(), given=False)


def _missing(root: Path) -> list[str]:
    return [name for name in REQUIRED if not (root / name).is_file()]


def _checked(root: Path, *, given: bool) -> DeploySource:
    missing = _missing(root)
    if missing:
        where = f"--source {root}" if given else f"{root} (and this framerun install)"
        raise DeploySourceNotFoundError(
            f"{where} is not a framerun checkout: no {', '.join(missing)}. Deploy builds "
            "the image and applies the module from a clone of framerun: run it there, "
            "or pass --source DIR"
        )
    return DeploySource(root)


def content_tag(source: DeploySource) -> str:
    """A tag that changes exactly when the uploaded build context changes."""
    digest = hashlib.sha256()
    for relative in sorted(_context_files(source.root)):
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256((source.root / relative).read_bytes()).digest())
    return digest.hexdigest()[:TAG_LENGTH]


def _context_files(root: Path) -> Iterator[str]:
    """Relative paths of the build context: git's view (tracked and untracked files
    that `.gitignore` does not exclude, as gcloud uploads them) when the source is a
    git work tree, else a walk that skips the usual generated folders."""
    for relative in _git_files(root) or _walked_files(root):
        if relative.split("/", 1)[0] in _NOT_HASHED_DIRS:
            continue
        if (root / relative).is_file():  # a tracked file deleted in the work tree is gone
            yield relative


def _git_files(root: Path) -> list[str] | None:
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return None
    done = subprocess.run(
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return sorted({name for name in done.stdout.decode("utf-8").split("\0") if name})


def _walked_files(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if any(part in _UNTRACKED_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        if path.is_file() and not path.is_symlink():
            found.append("/".join(parts))
    return found
