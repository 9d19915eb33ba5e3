"""A composition document as a small tree of elements, for finding its sound.

The clip parser (``media.py``) needs parents (hosts, ``data-hidden`` ancestors,
``<source>`` children) and ids (``data-start`` references); the sub-composition
grafting (``mediagraft.py``) moves parsed subtrees under their hosts. Both share this
tree, built with the stdlib ``html.parser`` from the document's text, so it stays IO-free.
"""

from __future__ import annotations

from html.parser import HTMLParser

MEDIA_TAGS = ("audio", "video")
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)


class TreeNode:
    """One element: its attributes, its place in the tree, and where it came from."""

    __slots__ = ("attrs", "base", "children", "file", "line", "parent", "tag")

    def __init__(
        self,
        tag: str,
        attrs: dict[str, str],
        parent: TreeNode | None,
        line: int,
        *,
        base: str = "",
        file: str = "",
    ) -> None:
        self.tag, self.attrs, self.parent, self.line = tag, attrs, parent, line
        self.base = base  # the folder its relative src resolves against
        self.file = file  # the sub-composition file it comes from ("" for the entry)
        self.children: list[TreeNode] = []

    def ancestors(self) -> list[TreeNode]:
        """Nearest first."""
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    @property
    def label(self) -> str:
        """How error messages name the element, so an author can find it."""
        key = "id" if self.attrs.get("id") else "src"
        value = self.attrs.get(key, "")
        shown = f' {key}="{value}"' if value else ""
        where = f" of {self.file}" if self.file else ""
        return f"<{self.tag}{shown}> on line {self.line}{where}"


class DocumentTree(HTMLParser):
    """Elements with their parents; enough structure for hosts and <source> children."""

    def __init__(self, *, base: str = "", file: str = "") -> None:
        super().__init__(convert_charrefs=True)
        self.base, self.file = base, file
        self.root = TreeNode("#document", {}, None, 0, base=base, file=file)
        self._open = [self.root]
        self.media: list[TreeNode] = []
        self.ids: dict[str, TreeNode] = {}
        self.composition_ids: dict[str, TreeNode] = {}
        self.hosts: list[TreeNode] = []  # elements with data-composition-src

    def find(self, key: str) -> TreeNode | None:
        """The element a ``data-start`` reference names: by id, else by composition id."""
        return self.ids.get(key) or self.composition_ids.get(key)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(tag, attrs, void=tag in _VOID)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(tag, attrs, void=True)

    def handle_endtag(self, tag: str) -> None:
        # Unclosed elements (<p>, <li>) close with the first ancestor that matches.
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def _add(self, tag: str, attrs: list[tuple[str, str | None]], *, void: bool) -> None:
        values: dict[str, str] = {}
        for key, value in attrs:
            values.setdefault(key, value or "")  # the first duplicate wins, as in browsers
        node = TreeNode(
            tag, values, self._open[-1], self.getpos()[0], base=self.base, file=self.file
        )
        self._open[-1].children.append(node)
        if tag in MEDIA_TAGS:
            self.media.append(node)
        if values.get("id"):
            self.ids.setdefault(values["id"], node)
        if values.get("data-composition-id"):
            self.composition_ids.setdefault(values["data-composition-id"], node)
        if values.get("data-composition-src", "").strip():
            self.hosts.append(node)
        if not void:
            self._open.append(node)


def descendants(node: TreeNode) -> list[TreeNode]:
    """``node``'s descendants in document order."""
    out: list[TreeNode] = []
    stack = list(reversed(node.children))
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(current.children))
    return out
