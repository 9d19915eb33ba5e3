"""HyperFrames' bundled fonts: the alias table, the faces on disk, and the set's version.

HyperFrames compiles a page before rendering it, and part of that compile is about
fonts (``fontrules.py`` applies it): 18 open (OFL) families it ships, and 51 other
names it maps onto them (Arial and Helvetica onto Inter, Futura onto Montserrat, Menlo
onto JetBrains Mono, …; ``fontset.json`` lists them), are drawn with its own faces,
and a generic first family with Inter. A page
written for HyperFrames looks the way it does because of those faces, so framerun
ships the same ones: npm ``@fontsource/*`` at the versions ``package.json`` pins,
whose Latin files are byte-identical to what HyperFrames 0.8.170 embeds. ``make
setup`` and the Docker image copy them into ``fontset/`` next to this file
(``scripts/install-fontset.mjs``); nothing is fetched while rendering.

The set's version (a hash of the files) is part of every plan, so a chunk drawn
with different faces is refused instead of mixed in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from framerun_service.core.errors import InvalidConfigError
from framerun_service.render.netguard import FONTS_ORIGIN

MANIFEST = Path(__file__).with_name("fontset.json")
FONTSET_DIR = Path(__file__).with_name("fontset")

# CSS generic families HyperFrames treats as "the host's font" (lower case).
GENERIC_FAMILIES = frozenset(
    {
        "sans-serif",
        "serif",
        "monospace",
        "cursive",
        "fantasy",
        "system-ui",
        "ui-sans-serif",
        "ui-serif",
        "ui-monospace",
        "emoji",
        "math",
        "fangsong",
        "-apple-system",
        "blinkmacsystemfont",
    }
)
CSS_WIDE_KEYWORDS = frozenset({"inherit", "initial", "unset", "revert", "revert-layer"})


@dataclass(frozen=True)
class Face:
    """One bundled face: a weight of a canonical family (all upright)."""

    family_key: str  # "inter"
    weight: str  # "400"

    @property
    def file_name(self) -> str:
        return f"{self.family_key}-latin-{self.weight}-normal.woff2"

    @property
    def url(self) -> str:
        return f"{FONTS_ORIGIN}/{self.file_name}"


@dataclass(frozen=True)
class FontSet:
    """The alias table and the canonical families, as ``fontset.json`` lists them."""

    aliases: dict[str, str]  # lower-case family name -> canonical key
    weights: dict[str, tuple[str, ...]]  # canonical key -> weights
    primary: str  # the family a generic first family gets ("Inter")
    unicode_range: str  # the Latin subset the faces cover

    def faces_for(self, family: str) -> tuple[Face, ...]:
        """The faces HyperFrames draws ``family`` with (none if it does not know it)."""
        key = self.aliases.get(family.strip().lower())
        return tuple(Face(key, w) for w in self.weights.get(key, ())) if key else ()

    def files(self) -> tuple[str, ...]:
        return tuple(Face(k, w).file_name for k, ws in self.weights.items() for w in ws)


@cache
def font_set() -> FontSet:
    data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    families = data["families"]
    return FontSet(
        aliases=dict(data["aliases"]),
        weights={key: tuple(f["weights"]) for key, f in families.items()},
        primary=families[data["primary"]]["display"],
        unicode_range=data["unicodeRange"],
    )


@cache
def fontset_version() -> str:
    """SHA-256 over the faces' names and bytes; InvalidConfigError if any is missing."""
    digest = hashlib.sha256(b"framerun-fontset-v1\0")
    missing = []
    for name in font_set().files():
        path = FONTSET_DIR / name
        if not path.is_file():
            missing.append(name)
            continue
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    if missing:
        raise InvalidConfigError(
            f"the bundled font faces are not installed ({len(missing)} missing, e.g. "
            f"{missing[0]} in {FONTSET_DIR}); run `make setup` "
            "(scripts/install-fontset.mjs copies them from npm @fontsource)"
        )
    return digest.hexdigest()


def face_path(file_name: str) -> Path | None:
    """The file behind a FONTS_ORIGIN URL path, or None if it is not a bundled face."""
    if file_name not in font_set().files():
        return None
    path = FONTSET_DIR / file_name
    return path if path.is_file() else None
