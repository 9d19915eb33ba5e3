"""Estimate the Cloud Run image's size, layer by layer, from what is installed here.

``docker`` is not available on this machine, so the image is not built: each layer
the Dockerfile adds is sized from the same things installed on this machine.

- system packages: ``scripts/install-system-deps.sh``'s packages and everything they
  depend on (``apt-cache depends --recurse``, no recommends, as the script installs),
  less what the base already has (Debian's required and important packages, the
  python image's ca-certificates, netbase and tzdata, and all they depend on), by
  dpkg's ``Installed-Size``; of an ``a | b`` dependency only what is installed here
  counts;
- Python packages: ``framerun[service]`` and its dependencies, resolved from the
  installed metadata (extras and markers evaluated), summed over each distribution's
  files (``.pyc`` files included as installed here);
- framerun itself: ``sdk/``, ``service/`` and ``workflows/`` as copied (the font set
  separately, from the ``fontset`` build stage).

The base (``python:3.11-slim-bookworm``) is not measured. Sizes are uncompressed;
a registry stores layers compressed (roughly half for binaries).

Run: ``.venv/bin/python scripts/image_size.py`` (a Markdown table on stdout,
``--json`` for the numbers).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
# Not in the image: the app's dependencies only; dev tools and the test browser aren't.
FORBIDDEN = {"playwright", "pytest", "matplotlib"}


def system_packages() -> list[str]:
    """The packages named in scripts/install-system-deps.sh's PACKAGES array."""
    text = (ROOT / "scripts" / "install-system-deps.sh").read_text()
    block = text[text.index("PACKAGES=(") : text.index(")", text.index("PACKAGES=("))]
    return [ln.split("#")[0].strip() for ln in block.splitlines()[1:] if ln.split("#")[0].strip()]


APT_DEPENDS = [
    "apt-cache",
    "depends",
    "--recurse",
    "--no-recommends",
    "--no-suggests",
    "--no-conflicts",
    "--no-breaks",
    "--no-replaces",
    "--no-enhances",
]
# What python:3.11-slim-bookworm installs on top of Debian's required packages (its
# Dockerfile's apt-get install line): already in the base.
PYTHON_BASE_EXTRAS = ["ca-certificates", "netbase", "tzdata"]


def _closure(packages: list[str]) -> set[str]:
    """``packages`` and all they depend on (every alternative of an ``a | b`` listed)."""
    run = subprocess.run([*APT_DEPENDS, *packages], capture_output=True, text=True, check=True)
    return {ln for ln in run.stdout.splitlines() if ln and not ln[0].isspace() and "<" not in ln}


def apt_layer_kb() -> tuple[int, int, list[str]]:
    """KB installed by the system layer, package count, and packages not installed here."""
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Priority}\t${Installed-Size}\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {}
    for line in query.stdout.splitlines():
        name, priority, size = line.split("\t")
        installed[name.split(":")[0]] = (priority, int(size or 0))
    roots = [n for n, (prio, _) in installed.items() if prio in ("required", "important")]
    base = _closure(roots + PYTHON_BASE_EXTRAS)
    # An ``a | b`` dependency lists both; apt installs one, so count only what is here.
    added = sorted(n for n in _closure(system_packages()) - base if n in installed)
    kb = sum(installed[n][1] for n in added)
    missing = sorted(n for n in _closure(system_packages()) - base if n not in installed)
    return kb, len(added), missing


def python_closure(root: str = "framerun", extras: tuple[str, ...] = ("service",)) -> set[str]:
    """Distribution names ``root[extras]`` installs (markers and extras evaluated)."""
    seen: set[str] = set()
    visited: set[tuple[str, str]] = set()
    todo = [(root, "")] + [(root, e) for e in extras]
    while todo:
        name, extra = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if (key, extra) in visited:
            continue
        visited.add((key, extra))
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            if req.marker is None and extra:
                continue  # listed under the base requirements, visited with ""
            todo += [(req.name, "")] + [(req.name, e) for e in req.extras]
    return seen


def python_layer_bytes(names: set[str]) -> int:
    total = 0
    for name in names:
        if name == "framerun":  # copied from the checkout, sized separately
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for f in dist.files or []:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
    return total


def tree_bytes(*paths: Path, skip: tuple[str, ...] = ()) -> int:
    total = 0
    for root in paths:
        for p in root.rglob("*"):
            if p.is_file() and not any(part in skip for part in p.parts):
                total += p.stat().st_size
    return total


def estimate() -> dict[str, object]:
    apt_kb, apt_count, missing = apt_layer_kb()
    names = python_closure()
    fontset = ROOT / "service" / "framerun_service" / "render" / "fontset"
    app = tree_bytes(
        ROOT / "sdk", ROOT / "service", ROOT / "workflows", skip=("fontset", "__pycache__")
    )
    return {
        "system_packages_mb": round(apt_kb * 1024 / MB, 1),
        "system_package_count": apt_count,
        "system_packages_not_installed_here": missing,
        "python_packages_mb": round(python_layer_bytes(names) / MB, 1),
        "python_distributions": sorted(names - {"framerun"}),
        "framerun_code_mb": round(app / MB, 1),
        "fontset_mb": round(tree_bytes(fontset) / MB, 1),
        "forbidden_in_image": sorted(names & FORBIDDEN),
    }


def markdown(e: dict[str, object]) -> str:
    dists = e["python_distributions"]
    assert isinstance(dists, list)
    rows = [
        ("`FROM python:3.11-slim-bookworm`", "not measured here", "Debian + CPython"),
        (
            "`RUN bash scripts/install-system-deps.sh`",
            f"{e['system_packages_mb']} MB",
            f"{e['system_package_count']} packages: chromium-headless-shell, fonts and "
            "their libraries",
        ),
        (
            "`COPY sdk`, `service`, `workflows`",
            f"{e['framerun_code_mb']} MB",
            "framerun's code, the workflow",
        ),
        ("`COPY --from=fontset`", f"{e['fontset_mb']} MB", "HyperFrames' font faces"),
        (
            '`RUN pip install ".[service]"`',
            f"{e['python_packages_mb']} MB",
            f"{len(dists)} distributions (PyAV with its FFmpeg, numpy, Pillow, Flask, "
            "gunicorn, google-cloud-storage, …); no Playwright",
        ),
    ]
    lines = ["| layer | size (uncompressed) | what |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    e = estimate()
    print(json.dumps(e, indent=2) if args.json else markdown(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
