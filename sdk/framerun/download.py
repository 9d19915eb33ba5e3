"""Getting a rendered video back: ``download(output_uri, dest)``.

A distributed render ends with a ``gs://`` URI; this is the one way the SDK and
the CLI turn it into a local file. The object is streamed (never whole in
memory) into a temporary file beside ``dest`` and renamed into place only once
it is complete and its checksum verified, so a failed or interrupted download
leaves nothing behind and never a truncated video where a good one is expected.
An existing file is kept unless ``overwrite=True``: a video is never replaced by
accident. Storage comes from the target (the local stack's target names its
fake-gcs-server), so nobody sets ``STORAGE_EMULATOR_HOST`` by hand.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from framerun_service.core.errors import ObjectNotFoundError, OutputNotWritableError
from framerun_service.core.gs_uris import parse_gs_uri

if TYPE_CHECKING:
    from framerun.target import CloudRunTarget
    from framerun_service.core.storage import Storage

PART_SUFFIX = ".part"


class _CountingWriter(io.RawIOBase):
    """A write-only file that reports the running byte count after every write."""

    def __init__(self, fh: io.BufferedWriter, on_bytes: Callable[[int], None] | None) -> None:
        self._fh = fh
        self._on_bytes = on_bytes
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        count = self._fh.write(data)
        self.written += count
        if self._on_bytes is not None:
            self._on_bytes(self.written)
        return count


def download(
    output_uri: str,
    dest: str | os.PathLike[str],
    *,
    target: CloudRunTarget | None = None,
    storage: Storage | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Download a render's output (``gs://bucket/key``) to ``dest`` and return the file's path.

    ``dest`` may be a file name or an existing folder (the object's own name is
    used there). ``on_progress(done, total)`` is called in bytes as they
    arrive. Raises ObjectNotFoundError when the object does not exist (the render
    has not finished, or it was deleted) and OutputNotWritableError when ``dest``
    exists (pass ``overwrite=True``) or its folder is missing or not writable.
    ``storage`` is the seam for tests; otherwise one is built for ``target``.
    """
    _, key = parse_gs_uri(output_uri)
    path = Path(dest)
    if path.is_dir():
        path = path / PurePosixPath(key).name
    folder = path.parent
    _check_writable(path, folder, overwrite=overwrite)
    from framerun.sites import owned_storage  # the cloud client's modules: only when used

    with owned_storage(storage, target) as store:
        info = store.stat(output_uri)
        if info is None:
            raise ObjectNotFoundError(
                f"{output_uri} does not exist: the render has not finished (follow it with "
                "`framerun cloudrun progress`) or its output was deleted"
            )
        total = info.size
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=PART_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                writer = _CountingWriter(
                    fh, (lambda done: on_progress(done, total)) if on_progress else None
                )
                if on_progress is not None:
                    on_progress(0, total)
                store.download_into(output_uri, writer)
            # mkstemp makes the file 0600; a downloaded video gets the mode a new file would.
            os.chmod(tmp_name, 0o666 & ~_umask())
            _move_into_place(tmp_name, path, overwrite=overwrite)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
    return path


def check_destination(dest: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Refuse a destination that :func:`download` would refuse, before any render starts.

    So ``framerun cloudrun render -o taken.mp4`` fails in milliseconds, not after
    the render has been paid for.
    """
    path = Path(dest)
    if path.is_dir():
        _check_writable(path / "x", path, overwrite=True)
    else:
        _check_writable(path, path.parent, overwrite=overwrite)


def _check_writable(path: Path, folder: Path, *, overwrite: bool) -> None:
    """Everything about ``dest`` that can be refused before a byte is transferred."""
    if not folder.is_dir():
        raise OutputNotWritableError(
            f"cannot write {path}: folder {folder} does not exist; create it first"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputNotWritableError(
            f"cannot write {path}: folder {folder} is not writable; choose another destination"
        )
    if path.exists() and not overwrite:
        raise OutputNotWritableError(
            f"{path} already exists; choose another name or pass overwrite=True "
            "(CLI: --overwrite) to replace it"
        )


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _move_into_place(tmp_name: str, path: Path, *, overwrite: bool) -> None:
    """Rename the complete file into place; without ``overwrite``, never over a file that
    appeared meanwhile (a hard link fails if the name exists; rename would replace it)."""
    if overwrite:
        os.replace(tmp_name, path)
        return
    try:
        os.link(tmp_name, path)
    except FileExistsError:
        raise OutputNotWritableError(
            f"{path} appeared while downloading; choose another name or pass overwrite=True"
        ) from None
    except OSError:  # a filesystem without hard links: check, then rename
        if path.exists():
            raise OutputNotWritableError(
                f"{path} appeared while downloading; choose another name or pass overwrite=True"
            ) from None
        os.replace(tmp_name, path)
        return
    os.unlink(tmp_name)
