"""Sub-composition files: where the paths written in them point once they are mounted
(HyperFrames' rewriteAssetPath), IO-free; the page loads what these say."""

from __future__ import annotations

import pytest

from framerun_service.render.subcomp import asset_path, rewrite_asset_paths

FILES = {"compositions/img.png", "compositions/a b.png", "logo.png", "x.png"}


def exists(rel: str) -> bool:
    return rel in FILES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("img.png", "compositions/img.png"),  # beside the file: there
        ("logo.png", "logo.png"),  # not beside it: from the project root
        ("../x.png", "x.png"),  # climbing always resolves from the file
        ("../../../x.png", "x.png"),  # …and stops at the root
        ("./img.png?v=2#t", "compositions/img.png?v=2#t"),
        ("a%20b.png", "compositions/a%20b.png"),
        ("a b.png", "compositions/a%20b.png"),
        ("/img.png", "/img.png"),  # root-relative: left alone
        ("https://cdn.example/img.png", "https://cdn.example/img.png"),
        ("data:image/png;base64,AA", "data:image/png;base64,AA"),
        ("#frag", "#frag"),
        ("", ""),
    ],
)
def test_paths_in_a_sub_composition(value: str, expected: str) -> None:
    assert asset_path("compositions/scene.html", value, exists) == expected


def test_a_file_at_the_root_changes_nothing() -> None:
    assert asset_path("scene.html", "../x.png", exists) == "../x.png"


def test_src_href_and_style_sheet_urls_are_rewritten_in_place() -> None:
    text = (
        '<template><img src="img.png"><a href=\'../x.png\'>x</a><script src="logo.png"></script>'
        "<style>.a { background: url(img.png) } .b { background: url('logo.png') }</style>"
        '<div style="background: url(img.png)"></div></template>'
    )
    out = rewrite_asset_paths(text, "compositions/scene.html", exists)
    assert out == (
        "<template><img src=\"compositions/img.png\"><a href='x.png'>x</a>"
        '<script src="logo.png"></script>'
        "<style>.a { background: url(compositions/img.png) } .b { background: url('logo.png') }"
        # inline styles are not rewritten (HyperFrames' producer leaves them too)
        '</style><div style="background: url(img.png)"></div></template>'
    )
