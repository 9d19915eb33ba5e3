"""Per-instance engine state: the warm browser, extracted sites and scratch folders.

A Cloud Run instance serves many requests in one process; starting Chrome and
extracting a site are the slow parts, so both are kept between requests. The
Actions (``actions.py``) borrow them; the app (``app.py``) makes one per process and
gunicorn closes it when the worker exits (``gunicorn_conf.py``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from framerun_service.core.errors import PlanHashMismatchError
from framerun_service.core.storage import Storage

if TYPE_CHECKING:  # the browser machinery loads when the first request needs it
    from framerun_service.render.browser import BrowserSession
    from framerun_service.render.pagepool import PageThreads


@dataclass
class Engine:
    """Per-instance state: the warm browser and extracted sites, reused across requests."""

    work_dir: Path
    chunk_pages: int = 1  # pages drawing one chunk at once (settings.chunk_pages)
    max_instances: int | None = None  # instances Cloud Run may start (settings.max_instances)
    _session: BrowserSession | None = None
    _extra_pages: PageThreads | None = None
    _sites: dict[str, Path] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pid: int = 0

    def scratch(self) -> Path:
        """This process's scratch folder under ``work_dir``.

        A worker SIGKILLed mid-request leaves its temporary files behind, and on
        Cloud Run /tmp is memory: the first use in a process removes the folders
        of processes that no longer exist.
        """
        pid = os.getpid()
        folder = self.work_dir / f"pid-{pid}"
        if self._pid != pid:
            self._pid = pid
            self._sites.clear()  # a forked child must not trust its parent's folders
            for stale in self.work_dir.glob("pid-*"):
                if stale != folder and not _alive(stale.name.removeprefix("pid-")):
                    shutil.rmtree(stale, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def session(self) -> BrowserSession:
        """The browser session, started on first use and kept warm for later requests."""
        from framerun_service.render.browser import BrowserSession

        if self._session is None:
            self._session = BrowserSession()
        return self._session

    def extra_pages(self) -> PageThreads | None:
        """The threads (each with a warm browser) of a chunk's pages beyond the first."""
        from framerun_service.render.pagepool import PageThreads

        if self._extra_pages is None and self.chunk_pages > 1:
            self._extra_pages = PageThreads(self.chunk_pages - 1, warm=True)
        return self._extra_pages

    def site(self, storage: Storage, site_uri: str, expected_hash: str | None = None) -> Path:
        """The extracted site for ``site_uri`` (cached per instance by its tree hash)."""
        from framerun_service.render.archive import extract_site_archive
        from framerun_service.render.site import site_tree_hash

        with self._lock:
            cached = self._sites.get(site_uri)
            if cached is not None and cached.is_dir():
                return cached
            root = self.scratch() / "sites"
            root.mkdir(parents=True, exist_ok=True)
            dest = Path(tempfile.mkdtemp(prefix="site-", dir=root))
            try:
                with tempfile.TemporaryDirectory(dir=self.scratch()) as tmp:
                    archive = Path(tmp) / "site.tar.gz"
                    storage.download_to(site_uri, archive)
                    extract_site_archive(archive, dest)
                if expected_hash is not None and site_tree_hash(dest) != expected_hash:
                    raise PlanHashMismatchError(
                        f"the site at {site_uri} changed since it was planned; "
                        "plan the render again"
                    )
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)  # refused or failed: keep nothing
                raise
            self._sites[site_uri] = dest
            return dest

    def close(self) -> None:
        """Close the warm browser, so no Chrome process outlives its worker."""
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._extra_pages is not None:
            self._extra_pages.close()
            self._extra_pages = None


def _alive(pid: str) -> bool:
    """Whether process ``pid`` still runs (its scratch folder is then not stale)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
