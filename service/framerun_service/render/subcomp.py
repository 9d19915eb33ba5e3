"""Sub-composition files the way HyperFrames inlines them: where their paths point.

A host element's ``data-composition-src`` file is mounted into the entry document
(adapters/hyperframes.js does it in the page), so the paths written in that file must
be read the way HyperFrames' compiler reads them (``rewriteAssetPath``): a path that
climbs (``../img.png``) or names a file next to the sub-composition
(``compositions/img.png`` for ``img.png`` in ``compositions/scene.html``) points there;
any other relative path stays relative to the project root; URLs, ``data:``, ``#…`` and
root-relative ``/…`` paths are left alone. The page gets the file with its ``src``/``href``
attributes and its style sheets' ``url()`` rewritten so; the audio mix reads the same
rule (``media.py``). IO-free: whether a file exists is asked through ``exists``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from urllib.parse import quote, unquote

from framerun_service.render.htmlscan import apply_edits, scan

PATH_ATTRIBUTES = ("src", "href")
_CSS_URL = re.compile(r"""\burl\(\s*(["']?)([^)"'\s](?:[^)"']*[^)"'\s])?)\1\s*\)""")
_NOT_RELATIVE = ("http://", "https://", "//", "data:", "#", "/")

Exists = Callable[[str], bool]


def asset_path(comp_src: str, value: str, exists: Exists) -> str:
    """``value`` as written in the sub-composition ``comp_src``, as the page must load it."""
    if not value or value.startswith(_NOT_RELATIVE):
        return value
    comp_dir = posixpath.dirname(comp_src)
    if not comp_dir or comp_dir == ".":
        return value
    cut = min((i for i in (value.find("?"), value.find("#")) if i >= 0), default=len(value))
    base, suffix = value[:cut], value[cut:]
    slashed = base.replace("\\", "/")
    if not slashed or slashed.startswith("/"):
        return value
    path = unquote(slashed)
    sibling = posixpath.normpath("/" + posixpath.join(comp_dir, path)).lstrip("/")
    climbs = path == ".." or path.startswith("../")
    if not climbs and not exists(sibling):
        return value
    return quote(sibling, safe="/!$&*+,;=:@~-._") + suffix


def rewrite_asset_paths(text: str, comp_src: str, exists: Exists) -> str:
    """The sub-composition's HTML with every ``src``/``href`` and every ``url()`` in its
    ``<style>`` elements pointing where HyperFrames points them."""
    doc = scan(text, PATH_ATTRIBUTES)
    edits: list[tuple[int, int, str]] = []
    for attr in doc.attributes:
        value = attr.value.strip()
        new = asset_path(comp_src, value, exists)
        if new != value:
            edits.append((attr.start, attr.end, attr.encode(new)))
    for start, end in doc.styles:
        css = text[start:end]
        new_css = _CSS_URL.sub(lambda m: _css_url(m, comp_src, exists), css)
        if new_css != css:
            edits.append((start, end, new_css))
    return apply_edits(text, edits)


def _css_url(match: re.Match[str], comp_src: str, exists: Exists) -> str:
    quote_char, value = match[1], match[2].strip()
    new = asset_path(comp_src, value, exists)
    return match[0] if new == value else f"url({quote_char}{new}{quote_char})"
