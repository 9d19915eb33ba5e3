"""Where things are in an HTML document's text: style sheets, attributes, head and template.

HyperFrames compiles a page by rewriting parts of its HTML (fonts, sub-composition asset
paths). framerun does the same rewrites as edits into the author's text, so the rest of
the document reaches the browser byte for byte; this module finds the offsets those
edits need, in one pass of the standard library's HTML parser. IO-free.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_TAG_NAME = re.compile(r"<[^\s/>]*")


@dataclass
class Attribute:
    tag: str
    name: str
    value: str  # decoded (character references resolved)
    start: int  # offset of the raw value in the document (inside the quotes, if any)
    end: int
    quote: str  # '"', "'" or "" (unquoted)

    def encode(self, value: str) -> str:
        """``value`` as raw text for this attribute's place, quoted if it was not."""
        quote = self.quote or '"'
        escaped = value.replace("&", "&amp;").replace(quote, "&quot;" if quote == '"' else "&#39;")
        return escaped if self.quote else f'"{escaped}"'


@dataclass
class Document:
    """Offsets of what a rewrite reads and writes."""

    styles: list[tuple[int, int]] = field(default_factory=list)  # <style> contents
    attributes: list[Attribute] = field(default_factory=list)  # the ones asked for
    stylesheet_ends: list[int] = field(default_factory=list)  # after each <style>/<link>
    head_open_end: int | None = None
    head_close: int | None = None
    html_open_end: int | None = None
    template_open_end: int | None = None
    body_open: int | None = None


class _Scanner(HTMLParser):
    def __init__(self, text: str, names: Collection[str]) -> None:
        super().__init__(convert_charrefs=False)
        self.text = text
        self.names = names
        self.doc = Document()
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._style_open: int | None = None

    def _at(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._at()
        raw = self.get_starttag_text() or ""
        end = start + len(raw)
        doc = self.doc
        if tag == "html" and doc.html_open_end is None:
            doc.html_open_end = end
        elif tag == "head" and doc.head_open_end is None:
            doc.head_open_end = end
        elif tag == "body" and doc.body_open is None:
            doc.body_open = start
        elif tag == "template" and doc.template_open_end is None:
            doc.template_open_end = end
        elif tag == "style":
            self._style_open = end
        found = raw_attributes(tag, raw, start)
        rel = found.get("rel")
        if tag == "link" and rel is not None and "stylesheet" in rel.value.lower().split():
            doc.stylesheet_ends.append(end)
        doc.attributes += [found[name] for name in self.names if name in found]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self._style_open = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style_open is not None:
            start = self._at()
            self.doc.styles.append((self._style_open, start))
            close = self.text.find(">", start)
            self.doc.stylesheet_ends.append(close + 1 if close >= 0 else len(self.text))
            self._style_open = None
        elif tag == "head" and self.doc.head_close is None:
            self.doc.head_close = self._at()


def raw_attributes(tag: str, raw_tag: str, tag_offset: int) -> dict[str, Attribute]:
    """The attributes of a raw start tag with their value spans; the first of a name wins,
    as in browsers."""
    found: dict[str, Attribute] = {}
    name_end = _TAG_NAME.match(raw_tag)
    for m in _ATTRIBUTE.finditer(raw_tag, name_end.end() if name_end else 0):
        name = m[1].lower()
        if name in found:
            continue
        for group, quote in ((2, '"'), (3, "'"), (4, "")):
            if m[group] is not None:
                start, end = tag_offset + m.start(group), tag_offset + m.end(group)
                found[name] = Attribute(tag, name, html.unescape(m[group]), start, end, quote)
                break
        else:
            at = tag_offset + m.end()
            found[name] = Attribute(tag, name, "", at, at, "")
    return found


def scan(text: str, attributes: Collection[str] = ()) -> Document:
    """The document's style sheets and landmarks, and every attribute named in ``attributes``."""
    scanner = _Scanner(text, attributes)
    scanner.feed(text)
    scanner.close()
    return scanner.doc


def apply_edits(text: str, edits: Sequence[tuple[int, int, str]]) -> str:
    """Replace each (start, end) span of ``text`` with its new text; spans must not overlap."""
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + new + text[end:]
    return text
