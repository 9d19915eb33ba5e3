"""Graft sub-compositions into their hosts, so their sound is mixed with the entry's.

A host element's ``data-composition-src`` file is mounted into the page by HyperFrames
(adapters/hyperframes.js); the mix never runs the page, so the clip parser
(``media.py``) grafts the same files into its own tree: the file's content goes inside
the host, its root is flattened into the host (which keeps the timing), and its media
paths point where ``subcomp.py`` says. IO-free: files are read through ``read``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from framerun_service.core.errors import MediaInvalidError
from framerun_service.render.mediatree import DocumentTree, TreeNode, descendants
from framerun_service.render.sitepath import site_path
from framerun_service.render.subcomp import asset_path

ReadFile = Callable[[str], "str | None"]
MAX_SUB_COMPOSITION_DEPTH = 20  # HyperFrames' limit

# What HyperFrames takes off a sub-composition's root when it moves it into its host
# (runtime/flattenedRoot.ts): the host carries the composition's identity and timing.
_FLATTENED_ROOT_DROPS = frozenset(
    {
        "id",
        "data-composition-id",
        "data-composition-file",
        "data-composition-src",
        "data-start",
        "data-duration",
        "data-end",
        "data-track-index",
        "data-track",
        "data-hf-authored-duration",
        "data-hf-authored-end",
    }
)


def inline_sub_compositions(
    tree: DocumentTree, entry: str, read: ReadFile, exists: Callable[[str], bool]
) -> None:
    """Place each host's sub-composition file inside it, as HyperFrames inlines it.

    A file that is missing, unreadable, outside the site or part of a cycle is skipped
    here: the page fails to mount it, which fails the render with the reason.
    """
    queue: list[tuple[TreeNode, tuple[str, ...]]] = [(h, ()) for h in tree.hosts]
    while queue:
        host, ancestry = queue.pop(0)
        found = _read_sub_composition(host, entry, read, ancestry)
        if found is None:
            continue
        src, text = found
        sub = DocumentTree(base=host.base, file=src)
        sub.feed(text)
        sub.close()
        content = _flattened_content(sub.root, host.attrs.get("data-composition-id", "").strip())
        host.children = list(content)
        for node in content:
            node.parent = host
        mounted = {id(n) for c in content for n in [c, *descendants(c)]}
        _adopt_mounted(tree, sub, mounted, src, exists)
        queue += [(h, (*ancestry, src)) for h in sub.hosts if id(h) in mounted]


def _read_sub_composition(
    host: TreeNode, entry: str, read: ReadFile, ancestry: tuple[str, ...]
) -> tuple[str, str] | None:
    """The host's file as (site path, text), or None when it is not to be grafted.

    None for a path outside the site, a file that cannot be read, a cycle (the file is
    one of the host's own ancestors) or nesting past HyperFrames' depth limit.
    """
    raw = host.attrs["data-composition-src"]
    try:
        src = site_path(raw, base=posixpath.dirname(entry), label=host.label)
    except MediaInvalidError:
        return None
    text = read(src)
    if text is None or src in ancestry or len(ancestry) >= MAX_SUB_COMPOSITION_DEPTH:
        return None
    return src, text


def _content(root: TreeNode, host_id: str) -> list[TreeNode]:
    """What HyperFrames mounts from a sub-composition file: its template's content (the
    one named ``<host id>-template``, else the first), else its body."""
    nodes = descendants(root)
    templates = [n for n in nodes if n.tag == "template"]
    named = [t for t in templates if host_id and t.attrs.get("id") == f"{host_id}-template"]
    if named or templates:
        return (named or templates)[0].children
    body = next((n for n in nodes if n.tag == "body"), None)
    return body.children if body is not None else root.children


def _flattened_content(root: TreeNode, host_id: str) -> list[TreeNode]:
    """The mounted content, with the file's own composition root flattened into the host.

    When the content holds the composition root (the one whose id matches the host's,
    or any for an anonymous host), the host takes its place: that root alone is
    mounted, without the identity and timing attributes the host carries instead.
    """
    content = _content(root, host_id)
    candidates = [n for c in content for n in [c, *descendants(c)]]
    inner = next(
        (
            n
            for n in candidates
            if "data-composition-id" in n.attrs
            and (not host_id or n.attrs["data-composition-id"].strip() == host_id)
        ),
        None,
    )
    if inner is None:
        return content
    own_id = inner.attrs.get("data-composition-id")
    inner.attrs = {k: v for k, v in inner.attrs.items() if k not in _FLATTENED_ROOT_DROPS}
    if not host_id and own_id:  # an anonymous host's root keeps its id
        inner.attrs["data-composition-id"] = own_id
    return [inner]


def _adopt_mounted(
    tree: DocumentTree,
    sub: DocumentTree,
    mounted: set[int],
    src: str,
    exists: Callable[[str], bool],
) -> None:
    """Register the mounted part of ``sub`` in ``tree``: its media and its ids.

    Media paths are rewritten the way the page loads them (``subcomp.asset_path``);
    an id the entry already has keeps pointing at the entry's element.
    """
    for node in sub.media:
        if id(node) in mounted:
            for el in [node, *(c for c in node.children if c.tag == "source")]:
                if "src" in el.attrs:
                    el.attrs["src"] = asset_path(src, el.attrs["src"].strip(), exists)
            tree.media.append(node)
    for key, node in sub.ids.items():
        if id(node) in mounted:
            tree.ids.setdefault(key, node)
    for key, node in sub.composition_ids.items():
        if id(node) in mounted:
            tree.composition_ids.setdefault(key, node)
