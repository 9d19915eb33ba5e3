"""A request a page made and the answer it gets: what the page guard (pageguard.py)
decides on, whichever way the request arrived (paused over CDP in a render,
cdppage.py, or over HTTP in a preview, preview.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["GuardAnswer", "GuardRequest"]


@dataclass(frozen=True)
class GuardRequest:
    """A request the page made, as the guard needs it (paused over CDP, or over HTTP)."""

    url: str  # on the virtual origins (netguard.SITE_ORIGIN, FONTS_ORIGIN) or outside
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes | None = None
    resource_type: str = ""  # lower case, as Chrome names it: "document", "font", "media", …
    # The top frame's navigation: only then is the entry document compiled as the entry.
    entry_navigation: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True)
class GuardAnswer:
    """The guard's answer: a response, or (``abort`` set) a network error for the page."""

    status: int
    headers: dict[str, str]
    body: bytes
    abort: str | None = None  # a network error code: "blockedbyclient", "failed"

    @classmethod
    def refused(cls, abort: str) -> GuardAnswer:
        return cls(0, {}, b"", abort)
