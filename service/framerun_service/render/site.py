"""The site: a project folder's files, hashed and served to the page.

The tree hash is content-addressed (relative path + SHA-256 of bytes, sorted),
so the same files give the same hash on every machine.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

# Never part of a site, at any depth (HyperFrames skips the same when it ships a project):
# node_modules holds what `npm install` fetched for a project `framerun init` made; the
# page loads the copies in vendor/.
SKIPPED_DIRS = frozenset({".git", "__pycache__", "node_modules"})
SKIPPED_FILES = frozenset({".DS_Store"})


def iter_site_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(posix relative path, path) for every regular file that stays inside ``root``."""
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(f for f in filenames if f not in SKIPPED_FILES):
            path = Path(dirpath) / name
            if not path.is_file() or not path.resolve().is_relative_to(root):
                continue
            yield path.relative_to(root).as_posix(), path


def site_tree_hash(root: Path) -> str:
    """SHA-256 over (relative path, file SHA-256) pairs, in walk order (deterministic:
    folders and files sorted by name). Files are hashed streaming, never read whole."""
    digest = hashlib.sha256(b"framerun-site-v1\0")
    for rel, path in iter_site_files(root):
        with path.open("rb") as fh:
            file_hash = hashlib.file_digest(fh, "sha256").hexdigest()
        digest.update(rel.encode() + b"\0" + file_hash.encode() + b"\0")
    return digest.hexdigest()


def resolve_site_path(root: Path, url_path: str) -> Path | None:
    """Map a URL path to a file inside ``root``; None if missing or escaping."""
    rel = url_path.lstrip("/") or "index.html"
    if any(part in SKIPPED_DIRS for part in rel.split("/")):
        return None  # not in the site: a local render sees what an uploaded one sees
    candidate = (root / rel).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    return candidate


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiableError(ValueError):
    """A ``Range`` that starts past the end of the file (answered 416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte a ``Range: bytes=…`` header asks of a ``size``-byte
    file, or None to send the whole file.

    ``<video>``/``<audio>`` seek by asking for byte ranges; without 206 answers Chrome
    cannot seek media at all. Multi-range and malformed headers get the whole file
    (RFC 9110 lets a server ignore Range).
    """
    match = _RANGE.match(header or "")
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None  # "bytes=-": malformed, ignored
    if not first_text:  # bytes=-N: the last N bytes
        if int(last_text) == 0 or size == 0:
            raise RangeNotSatisfiableError(header)
        return max(0, size - int(last_text)), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored
    if first >= size:
        raise RangeNotSatisfiableError(header)
    return first, min(int(last_text), size - 1) if last_text else size - 1


def read_range(path: Path, first: int, last: int) -> bytes:
    """Bytes first..last (inclusive) of ``path``, without reading the rest."""
    with path.open("rb") as fh:
        fh.seek(first)
        return fh.read(last - first + 1)
