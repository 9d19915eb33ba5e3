"""Where a media ``src`` points inside the site, or the reason it cannot be mixed.

Its own module because three readers resolve paths the same way: the clip parser
(``media.py``), the sub-composition grafting (``mediagraft.py``) and the audio mixer,
which re-checks clips read back from a plan. IO-free: it only normalises text.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote

from framerun_service.core.errors import MediaInvalidError

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def site_path(raw: str, *, base: str = "", label: str = "the element") -> str:
    """A ``src`` as a normalised path inside the site, or ``MediaInvalidError``.

    Also used by the mixer on clips read back from a plan, which may not come
    from this parser.
    """
    text = raw.strip()
    fix = (
        "copy the file into the site folder and point src at it with a relative path "
        'such as "audio/music.mp3"'
    )
    if _SCHEME.match(text) or text.startswith("//"):
        what = "a data: URL" if text[:5].lower() == "data:" else "a URL"
        raise MediaInvalidError(
            f'{label}: src "{raw}" is {what}; audio is mixed offline from the site\'s '
            f"own files and nothing is fetched, so {fix}"
        )
    path = unquote(text.split("#", 1)[0].split("?", 1)[0])
    if not path or "\\" in path or "\0" in path:
        raise MediaInvalidError(
            f'{label}: src "{raw}" is not a usable file path; {fix} (forward slashes only)'
        )
    if path.startswith("/"):
        # Root-relative: the site is served at its root, so /media/a.mp3 is the project's
        # media/a.mp3 wherever the HTML file is (as a web server and HyperFrames read it).
        base, path = "", path.lstrip("/")
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined in (".", "..") or joined.startswith("../"):
        raise MediaInvalidError(f'{label}: src "{raw}" points outside the site folder; {fix}')
    return joined
