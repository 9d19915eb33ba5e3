"""A new project folder from one of the examples, as ``framerun init`` makes it.

The templates ship in the package (``framerun/templates``: in a checkout, links to
``examples/*``, the root ``package.json`` / ``package-lock.json``, ``examples/vendor.json``
and ``scripts/vendor.mjs``), so ``pip install framerun`` is enough to start. An example's
third-party JavaScript is not copied: the new project gets a ``package.json`` and a
``package-lock.json`` pinning exactly the npm packages it loads, at the repo's versions,
and ``vendor.mjs``, which ``npm install`` runs to copy the files into ``vendor/``.

The folder appears whole or not at all: everything is written into a hidden folder
beside it, then renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framerun_service.core.errors import InvalidInputError, OutputNotWritableError

TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_EXAMPLE = "hello"
VENDOR_SCRIPT = "vendor.mjs"
# Never copied from an example: what npm and Python make, and what npm fills.
_SKIPPED = frozenset({"vendor", "node_modules", "__pycache__", ".DS_Store"})
_NPM_NAME = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Example:
    """One template: its folder and the npm files (package → paths inside it) it loads."""

    name: str
    folder: Path
    packages: dict[str, list[str]]


@dataclass(frozen=True)
class Scaffolded:
    """What :func:`scaffold` wrote: the project and the npm packages it pins."""

    project: Path
    example: Example
    versions: dict[str, str]  # npm package → pinned version

    @property
    def needs_npm(self) -> bool:
        return bool(self.versions)


def examples(templates: Path = TEMPLATES) -> dict[str, Example]:
    """The examples ``init`` can start from, by name (folders holding an ``index.html``)."""
    if not (templates / "vendor.json").is_file():  # e.g. the service image, built without
        raise InvalidInputError(  # the examples: it renders, it does not scaffold
            f"this installation of framerun has no project templates ({templates}); "
            "install framerun from its wheel (pip install framerun) to use init"
        )
    wanted = _read_json(templates / "vendor.json")
    return {
        folder.name: Example(folder.name, folder, wanted.get(folder.name, {}))
        for folder in sorted(templates.iterdir())
        if folder.is_dir() and (folder / "index.html").is_file()
    }


def find_example(name: str, templates: Path = TEMPLATES) -> Example:
    """The example called ``name``; an unknown name is refused, listing the known ones."""
    known = examples(templates)
    if name not in known:
        raise InvalidInputError(
            f"there is no example {name!r}; choose one of {', '.join(known)} "
            "(framerun init --list shows them)"
        )
    return known[name]


def scaffold(
    dest: Path, example_name: str = DEFAULT_EXAMPLE, templates: Path = TEMPLATES
) -> Scaffolded:
    """Write a new project at ``dest`` from an example; refuses a non-empty ``dest``."""
    example = find_example(example_name, templates)
    dest = Path(os.path.abspath(dest))  # "." and "new/" have a name to give the project
    _check_destination(dest)
    versions = _pinned_versions(example, templates)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.framerun-init-", dir=dest.parent))
    try:
        shutil.copytree(
            example.folder,
            staging,
            dirs_exist_ok=True,
            ignore=lambda _dir, names: [n for n in names if n in _SKIPPED],
        )
        if versions:
            _write_npm_files(staging, dest.name, example, versions, templates)
        staging.chmod(0o755)  # mkdtemp made it 0700
        if dest.is_dir():  # empty (checked above), perhaps the working folder: fill it
            for child in staging.iterdir():
                child.rename(dest / child.name)
            staging.rmdir()
        else:
            staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Scaffolded(dest, example, versions)


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise OutputNotWritableError(f"'{dest}' is a file; name a new folder for the project")
    if dest.is_dir() and any(dest.iterdir()):
        raise OutputNotWritableError(
            f"folder '{dest}' exists and is not empty; name a new folder (init never "
            "writes into one that holds files)"
        )


def _pinned_versions(example: Example, templates: Path) -> dict[str, str]:
    """Each npm package the example loads, at the version the repo's package.json pins."""
    pinned = _read_json(templates / "package.json").get("dependencies", {})
    missing = sorted(set(example.packages) - set(pinned))
    if missing:  # a packaging mistake, not the user's: examples/vendor.json names it
        raise InvalidInputError(
            f"example {example.name!r} loads {', '.join(missing)}, which package.json does "
            "not pin; reinstall framerun"
        )
    return {name: pinned[name] for name in sorted(example.packages)}


def _write_npm_files(
    project: Path, name: str, example: Example, versions: dict[str, str], templates: Path
) -> None:
    """``package.json`` and ``package-lock.json`` pinning exactly ``versions`` (the lock's
    entries are the repo's, integrity hashes included), and the vendor script."""
    npm_name = _NPM_NAME.sub("-", name.lower()).strip("-._") or "framerun-project"
    package = {
        "name": npm_name,
        "version": "0.1.0",
        "private": True,
        "description": f"A framerun composition, from the {example.name} example. "
        "`npm install` fetches its pinned JavaScript and copies what the page loads "
        "into vendor/.",
        "scripts": {"postinstall": f"node {VENDOR_SCRIPT}"},
        "dependencies": versions,
        "framerun": {"vendor": {pkg: example.packages[pkg] for pkg in versions}},
    }
    root_lock = _read_json(templates / "package-lock.json").get("packages", {})
    lock: dict[str, Any] = {
        "name": npm_name,
        "version": "0.1.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {
            "": {"name": npm_name, "version": "0.1.0", "dependencies": versions},
            **_locked(root_lock, versions),
        },
    }
    (project / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    (project / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(templates / VENDOR_SCRIPT, project / VENDOR_SCRIPT)
    (project / ".gitignore").write_text("node_modules/\nvendor/\n", encoding="utf-8")


def _locked(root_lock: dict[str, Any], packages: dict[str, str]) -> dict[str, Any]:
    """The repo lock's entries for ``packages`` and everything they depend on (npm's flat
    ``node_modules/<name>`` layout), so ``npm install`` resolves nothing afresh."""
    entries: dict[str, Any] = {}
    todo = list(packages)
    while todo:
        key = f"node_modules/{todo.pop()}"
        if key not in entries:
            entries[key] = root_lock[key]
            todo.extend(root_lock[key].get("dependencies", {}))
    return dict(sorted(entries.items()))


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} must hold a JSON object"
    return data
