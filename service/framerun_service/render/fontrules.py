"""HyperFrames' compile-time font rules, applied to a document's text before the page sees it.

A page written for HyperFrames is drawn with the fonts HyperFrames' compiler gives it,
so framerun applies the same three rules (hyperframes 0.8.170, ``@hyperframes/core``
``fonts/deterministicFonts`` and the producer's ``compileForRender``):

1. **Text rendering.** The entry document gets ``<style
   data-hyperframes-text-rendering>html,body,*{text-rendering:geometricPrecision}</style>``
   as the first thing in ``<head>``.
2. **Generic first families.** A ``font-family`` (or a custom property) whose first family
   is generic (``sans-serif``, ``system-ui``, ``monospace``, ``-apple-system``, …) gets
   ``Inter, `` in front; in ``var(--x, sans-serif)`` it goes inside the fallback, when
   ``--x`` is defined nowhere in the document.
3. **Bundled faces.** Every family the document names that the alias table knows
   (``fontset.json``) and that no ``@font-face`` in the document declares gets
   ``@font-face`` rules for the bundled faces, under the name the page used (``Arial`` is
   drawn with Inter's files), in a ``<style>`` after the document's last stylesheet.

Exactly what HyperFrames rewrites is rewritten: ``<style>`` elements, ``style=""`` and
``data-font-family`` attributes. Linked ``.css`` files and styles that scripts set are
left alone, as HyperFrames leaves them. Families it would fetch from Google Fonts are not
fetched (renders are hermetic); a page that declares its own ``@font-face`` keeps it.

Every rewrite is an insertion into the original text, so the rest of the document stays
byte for byte what the author wrote. IO-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import tinycss2
import tinycss2.ast

from framerun_service.render.fontset import (
    CSS_WIDE_KEYWORDS,
    GENERIC_FAMILIES,
    FontSet,
    font_set,
)
from framerun_service.render.htmlscan import Attribute, Document, apply_edits, scan

TEXT_RENDERING_STYLE = (
    '<style data-hyperframes-text-rendering="true">'
    "html,body,*{text-rendering:geometricPrecision}</style>"
)
_MAX_VAR_DEPTH = 8  # HyperFrames' MAX_CSS_VARIABLE_DEPTH
_VAR_NAME = re.compile(r"--[A-Za-z0-9_-]+")
# The attributes HyperFrames' font rules read (besides <style> elements).
FONT_ATTRIBUTES = ("style", "data-font-family")
_FONT_FACE_OPEN = re.compile(r"@font-face\s*\{", re.IGNORECASE)
_FONT_FAMILY_PROP = re.compile(r"font-family\s*:", re.IGNORECASE)


def compile_fonts(text: str, *, entry: bool, fonts: FontSet | None = None) -> str:
    """``text`` (an HTML document) with HyperFrames' font rules applied.

    ``entry``: the document the page opens (it gets the text-rendering rule); a
    sub-composition file gets rules 2 and 3 only, as HyperFrames applies them to the
    sub-composition's styles once they are inlined.
    """
    fonts = fonts or font_set()
    if entry:
        text = _insert_text_rendering(text)
    text = _normalize_generic_primaries(text, fonts.primary)
    return _inject_bundled_faces(text, fonts)


# ---- CSS: declarations and where their values start ------------------------------------


@dataclass
class _Declaration:
    name: str  # as written ("font-family", "--brand-font")
    tokens: list[Any]  # the value's component values (tinycss2), positions in the source


def _css_offsets(css: str) -> list[int]:
    """Line starts as tinycss2 counts lines (\\r\\n, \\r, \\n and \\f end one)."""
    return [0] + [m.end() for m in re.finditer(r"\r\n|[\r\n\f]", css)]


def _declarations(css: str, *, inline: bool = False) -> Iterator[_Declaration]:
    """Every declaration of a style sheet (or of a style attribute), nested ones too,
    except those of @font-face rules (their font-family names a face, not a choice)."""
    if inline:
        yield from _block_declarations(tinycss2.parse_component_value_list(css))
        return
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        yield from _rule_declarations(rule)


def _rule_declarations(rule: Any) -> Iterator[_Declaration]:
    if rule.type == "at-rule":
        if rule.content is None or rule.lower_at_keyword == "font-face":
            return
    elif rule.type != "qualified-rule":
        return
    yield from _block_declarations(rule.content)


def _block_declarations(content: list[Any]) -> Iterator[_Declaration]:
    for item in tinycss2.parse_blocks_contents(content, skip_comments=True, skip_whitespace=True):
        if item.type == "declaration":
            yield _Declaration(item.name, item.value)
        else:
            yield from _rule_declarations(item)


def _significant(tokens: Sequence[Any]) -> list[Any]:
    return [t for t in tokens if t.type not in ("whitespace", "comment")]


def _serialize(tokens: Sequence[Any]) -> str:
    return tinycss2.serialize(tokens).strip()


def parse_font_family_value(value: str) -> list[str]:
    """A font-family value's families, unquoted, in order (HyperFrames' parseFontFamilyValue):
    only top-level commas split, so ``var(--x, y)`` stays one entry."""
    pieces, start, depth, quote, i = [], 0, 0, "", 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            i += 2
            continue
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            pieces.append(value[start:i])
            start = i + 1
        i += 1
    pieces.append(value[start:])
    cleaned = (re.sub(r"['\"]$", "", re.sub(r"^['\"]", "", p.strip())).strip() for p in pieces)
    return [p for p in cleaned if p]


def _is_generic(family: str) -> bool:
    return family.strip().strip("'\"").strip().lower() in GENERIC_FAMILIES


# ---- rule 1: text rendering ------------------------------------------------------------


def _insert_text_rendering(text: str) -> str:
    if "data-hyperframes-text-rendering" in text:
        return text
    doc = scan(text, FONT_ATTRIBUTES)
    at = doc.head_open_end if doc.head_open_end is not None else doc.html_open_end
    if at is None:
        at = 0
    return text[:at] + TEXT_RENDERING_STYLE + text[at:]


# ---- rule 2: generic first families ----------------------------------------------------


def _custom_properties(text: str, doc: Document) -> dict[str, str]:
    """Custom property values declared in <style> elements and style attributes (last wins)."""
    found: dict[str, str] = {}
    sources = [(text[s:e], False) for s, e in doc.styles]
    sources += [(a.value, True) for a in doc.attributes if a.name == "style"]
    for css, inline in sources:
        if "--" not in css:
            continue
        for decl in _declarations(css, inline=inline):
            if decl.name.startswith("--"):
                found[decl.name] = _serialize(decl.tokens)
    return found


def _generic_insertion(tokens: Sequence[Any], custom: dict[str, str]) -> Any | None:
    """The token before which ``Inter, `` goes, or None (HyperFrames' systemPrimaryReplacement)."""
    significant = _significant(tokens)
    if not significant:
        return None
    first = significant[0]
    if first.type == "function" and first.lower_name == "var":
        args = first.arguments
        head = _significant(args)
        if head and head[0].type == "ident" and _VAR_NAME.fullmatch(head[0].value):
            if custom.get(head[0].value):
                return None  # the variable is defined: its value was rewritten where it is set
            comma = next(
                (i for i, t in enumerate(args) if t.type == "literal" and t.value == ","), None
            )
            return None if comma is None else _generic_insertion(args[comma + 1 :], custom)
    families = parse_font_family_value(_serialize(tokens))
    return first if families and _is_generic(families[0]) else None


def _normalize_generic_primaries(text: str, primary: str) -> str:
    doc = scan(text, FONT_ATTRIBUTES)
    custom = _custom_properties(text, doc)
    edits: list[tuple[int, int, str]] = []
    for start, end in doc.styles:
        css = text[start:end]
        if "font" not in css.lower() and "--" not in css:
            continue
        lines = _css_offsets(css)
        for decl in _declarations(css):
            if decl.name.startswith("--") or decl.name.lower() == "font-family":
                token = _generic_insertion(decl.tokens, custom)
                if token is not None:
                    at = start + lines[token.source_line - 1] + token.source_column - 1
                    edits.append((at, at, f"{primary}, "))
    for attr in doc.attributes:
        new = _rewrite_attribute(attr, primary, custom)
        if new is not None:
            edits.append((attr.start, attr.end, new))
    return apply_edits(text, edits)


def _rewrite_attribute(attr: Attribute, primary: str, custom: dict[str, str]) -> str | None:
    """The attribute's new raw value (escaped for its quotes), or None if it keeps its own."""
    value = attr.value
    if attr.name == "data-font-family":
        token = _generic_insertion(tinycss2.parse_component_value_list(value), custom)
        inserts = [token] if token is not None else []
    else:
        inserts = []
        for decl in _declarations(value, inline=True):
            if decl.name.startswith("--") or decl.name.lower() == "font-family":
                token = _generic_insertion(decl.tokens, custom)
                if token is not None:
                    inserts.append(token)
    if not inserts:
        return None
    lines = _css_offsets(value)
    offsets = sorted(
        (lines[t.source_line - 1] + t.source_column - 1 for t in inserts), reverse=True
    )
    for at in offsets:
        value = value[:at] + f"{primary}, " + value[at:]
    return attr.encode(value)


# ---- rule 3: bundled faces for the families the document names -------------------------


def _existing_font_faces(text: str) -> set[str]:
    """Families some @font-face in the document text declares (HyperFrames' regex scan)."""
    families: set[str] = set()
    pos = 0
    while (opening := _FONT_FACE_OPEN.search(text, pos)) is not None:
        declaration = _FONT_FAMILY_PROP.search(text, opening.end())
        while declaration is not None and text[declaration.end() : declaration.end() + 1] == ";":
            declaration = _FONT_FAMILY_PROP.search(text, declaration.end())
        if declaration is None:
            break
        semicolon = text.find(";", declaration.end())
        if semicolon < 0:
            break
        end = text.find("}", semicolon + 1)
        if end < 0:
            break
        name = text[declaration.end() : semicolon].strip().strip("'\"").strip().lower()
        if name:
            families.add(name)
        pos = end + 1
    return families


def _primary_variable(value: str) -> tuple[str, str | None] | None:
    """(name, fallback) when ``value`` starts with ``var(--name[, fallback])``."""
    trimmed = value.strip()
    if not trimmed.lower().startswith("var("):
        return None
    depth = 0
    for i, char in enumerate(trimmed):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                inner = trimmed[4:i].strip()
                comma = inner.find(",")
                name = (inner if comma < 0 else inner[:comma]).strip()
                if not _VAR_NAME.fullmatch(name):
                    return None
                return name, None if comma < 0 else inner[comma + 1 :]
    return None


def _declared_families(
    value: str, custom: dict[str, str], optional: bool = False, depth: int = 0
) -> list[tuple[str, bool]]:
    """(family, optional) pairs a declaration names, through var() (resolveDeclaredFamilies)."""
    families = parse_font_family_value(value)
    variable = _primary_variable(value) if depth < _MAX_VAR_DEPTH else None
    if variable is None:
        return [(f, optional) for f in families]
    name, fallback = variable
    resolved = custom.get(name)
    source = resolved or fallback
    if source is None:
        return [(f, optional) for f in families]
    first = _declared_families(source, custom, not resolved or depth > 0, depth + 1)
    if not first:
        return []
    return first + [(f, optional) for f in families[1:]]


def _requested_families(text: str, doc: Document) -> dict[str, tuple[str, bool]]:
    """lower-case name -> (name as first written, optional) for every family the styles name."""
    custom = _custom_properties(text, doc)
    values: list[str] = []
    for start, end in doc.styles:
        css = text[start:end]
        if "font-family" in css.lower():
            values += [
                _serialize(d.tokens) for d in _declarations(css) if d.name.lower() == "font-family"
            ]
    for attr in doc.attributes:
        if attr.name == "style":
            values += [
                _serialize(d.tokens)
                for d in _declarations(attr.value, inline=True)
                if d.name.lower() == "font-family"
            ]
        else:
            values.append(attr.value)
    requested: dict[str, tuple[str, bool]] = {}
    for value in values:
        for family, optional in _declared_families(value, custom):
            key = family.lower()
            if not key or key.startswith("var(") or key in GENERIC_FAMILIES:
                continue
            if key in CSS_WIDE_KEYWORDS:
                continue
            seen = requested.get(key)
            requested[key] = (seen[0] if seen else family, (seen[1] if seen else True) and optional)
    return requested


def _face_rule(family: str, url: str, weight: str, unicode_range: str) -> str:
    return "\n".join(
        [
            "@font-face {",
            f'  font-family: "{family}";',
            f'  src: url("{url}") format("woff2");',
            "  font-style: normal;",
            f"  font-weight: {weight};",
            "  font-display: block;",
            f"  unicode-range: {unicode_range};",
            "}",
        ]
    )


def _inject_bundled_faces(text: str, fonts: FontSet) -> str:
    doc = scan(text, FONT_ATTRIBUTES)
    existing = _existing_font_faces(text)
    pending = {k: v for k, v in _requested_families(text, doc).items() if k not in existing}
    rules = []
    # Required families first, as HyperFrames orders them (a stable sort on "optional").
    for key, (family, _optional) in sorted(pending.items(), key=lambda kv: kv[1][1]):
        for face in fonts.faces_for(key):
            rules.append(_face_rule(family, face.url, face.weight, fonts.unicode_range))
    if not rules:
        return text
    style = '<style data-hyperframes-deterministic-fonts="true">' + "\n\n".join(rules) + "</style>"
    if doc.stylesheet_ends:
        at = doc.stylesheet_ends[-1]
    elif doc.template_open_end is not None:
        at = doc.template_open_end  # a sub-composition: its styles are the template's
    elif doc.head_close is not None:
        at = doc.head_close
    elif doc.body_open is not None:
        at = doc.body_open
    else:
        at = doc.html_open_end or 0
    return text[:at] + style + text[at:]
