"""Site archives: a project folder as a deterministic ``.tar.gz``, and its safe extraction.

The SDK builds the archive (:func:`make_site_archive`) and uploads it under the
site's tree hash; the service downloads it and unpacks it
(:func:`extract_site_archive`) before rendering. The archive comes from the
network, so extraction trusts nothing in it.

Standard library only: the SDK imports this module and must stay light.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import IO, cast

from framerun_service.core.errors import InvalidInputError, UnsafeArchiveError
from framerun_service.render.site import iter_site_files, site_tree_hash

GiB = 1024**3
MiB = 1024**2

DEFAULT_MAX_TOTAL_BYTES = 2 * GiB
DEFAULT_MAX_FILES = 20_000
DEFAULT_MAX_MEMBER_BYTES = 1 * GiB

FILE_MODE = 0o644
DIR_MODE = 0o755

# Bytes of tar headers (incl. PAX/GNU long-name records) allowed before each
# member. Real ones are a few KiB; tarfile reads a header record whole into
# memory, so a forged multi-GB PAX header must be stopped by this, not by
# max_total_bytes. Generous, plus one tar record of read-ahead.
_HEADER_BUDGET = 1 * MiB + tarfile.RECORDSIZE
# After the end-of-archive marker only zero padding may follow (tar pads to a
# 10 KiB record); reading to the end also makes gzip verify its CRC and length.
_TRAILER_BUDGET = 1 * MiB
_COPY_BYTES = 1 * MiB


def make_site_archive(
    project_dir: str | os.PathLike[str], dest_path: str | os.PathLike[str]
) -> str:
    """Write the project's site files to ``dest_path`` as a deterministic tar.gz.

    Returns the site's tree hash (:func:`site_tree_hash`), the archive's id.
    The same tree always gives the same bytes: files in sorted order, no
    directory entries, mtime 0, uid/gid 0, no owner names, mode 0644, gzip
    header without name or time. (Identical bytes also need the same zlib
    build; the id never depends on the bytes, only on the tree.)

    The tree is hashed before and after archiving: if anything changed in
    between, the archive might not match its id, so it is refused.
    """
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder: pass the project folder to archive")
    tree_hash = site_tree_hash(root)
    dest = Path(dest_path)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as raw:
            os.fchmod(raw.fileno(), FILE_MODE)  # mkstemp makes it 0600
            _write_archive(root, raw)
        if site_tree_hash(root) != tree_hash:
            raise InvalidInputError(
                f"{root} changed while it was being archived: run again once nothing is "
                "writing to it"
            )
        os.replace(tmp_name, dest)
    except BaseException:
        _unlink_quietly(tmp_name)
        raise
    return tree_hash


def _write_archive(root: Path, raw: IO[bytes]) -> None:
    # filename="" keeps the temp file's name out of the gzip header; mtime=0 its time.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar,
    ):
        for rel, path in sorted(iter_site_files(root)):
            with path.open("rb") as fh:
                info = tarfile.TarInfo(rel)
                info.size = os.fstat(fh.fileno()).st_size
                info.mtime = 0
                info.mode = FILE_MODE
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.type = tarfile.REGTYPE
                tar.addfile(info, fh)


def extract_site_archive(
    archive_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
) -> None:
    """Unpack a site tar.gz into ``dest_dir``, refusing anything unsafe.

    Only regular files and directories are accepted. Links of every kind are
    refused, not just escaping ones: a site is served as plain files, so links
    buy nothing and are the classic way to make a later member write (or the
    page read) outside the folder. Devices, FIFOs, sparse files, absolute
    paths, ``..`` components, duplicate names and members over the limits are
    refused too, with UnsafeArchiveError naming the member.

    Limits count the bytes actually written while streaming (header sizes are
    only used to refuse early), and tar headers themselves are budgeted, so a
    decompression bomb stops as soon as it crosses a limit. ``extractall`` is
    never used; modes, owners and times in the archive are ignored (files
    0644, folders 0755).

    All or nothing: extraction goes into a temporary sibling folder renamed to
    ``dest_dir`` only on success, so on any failure nothing is left behind and
    ``dest_dir`` never holds half a site. ``dest_dir`` must not exist or be
    empty; FileExistsError otherwise (also when a concurrent extraction to the
    same folder finished first: key ``dest_dir`` by the site's tree hash and
    treat that as success).
    """
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} already exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial"))
    try:
        _extract_into(
            Path(archive_path),
            staging,
            max_total_bytes=max_total_bytes,
            max_files=max_files,
            max_member_bytes=max_member_bytes,
        )
        staging.chmod(DIR_MODE)
        try:
            os.rename(staging, dest)  # replaces dest only if it is an empty folder
        except OSError as exc:
            raise FileExistsError(f"{dest} appeared while the site was being extracted") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class _BudgetedReader:
    """The decompressed stream, failing once more bytes are read than allowed.

    The allowance is topped up per member (header budget + the member's
    declared size), so no tar construct can make tarfile read — and buffer —
    unbounded data between the checks of the extraction loop.
    """

    def __init__(self, raw: gzip.GzipFile, archive: Path) -> None:
        self._raw = raw
        self._archive = archive
        self.consumed = 0
        self.limit = 0
        self.after = "the start of the archive"

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.limit - self.consumed + 1:
            size = max(self.limit - self.consumed + 1, 0)
        try:
            data = self._raw.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise _not_a_site_archive(self._archive, exc) from exc
        self.consumed += len(data)
        if self.consumed > self.limit:
            raise UnsafeArchiveError(
                f"site archive {self._archive.name} has oversized tar headers after "
                f"{self.after} (a decompression bomb?): refused"
            )
        return data


def _extract_into(
    archive: Path, staging: Path, *, max_total_bytes: int, max_files: int, max_member_bytes: int
) -> None:
    with archive.open("rb") as raw:
        magic = raw.read(2)
        if magic != b"\x1f\x8b":
            raise UnsafeArchiveError(
                f"{archive.name} is not a gzip-compressed tar archive (.tar.gz): refused"
            )
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            reader = _BudgetedReader(gz, archive)
            reader.limit = _HEADER_BUDGET
            with _open_tar(reader, archive) as tar:
                _extract_members(
                    archive,
                    tar,
                    reader,
                    staging,
                    max_total_bytes=max_total_bytes,
                    max_files=max_files,
                    max_member_bytes=max_member_bytes,
                )
            _check_trailer(reader, archive)


def _open_tar(reader: _BudgetedReader, archive: Path) -> tarfile.TarFile:
    """A streaming reader ("r|": no seeking, members strictly in order)."""
    try:
        return tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|", encoding="utf-8")
    except tarfile.TarError as exc:
        raise _not_a_site_archive(archive, exc) from exc


def _extract_members(
    archive: Path,
    tar: tarfile.TarFile,
    reader: _BudgetedReader,
    staging: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    max_member_bytes: int,
) -> None:
    written_total = 0
    seen: set[str] = set()
    count = 0
    while True:
        reader.limit = reader.consumed + _HEADER_BUDGET
        try:
            member = tar.next()
        except tarfile.TarError as exc:
            raise _not_a_site_archive(archive, exc) from exc
        if member is None:
            return
        count += 1
        if count > max_files:
            raise UnsafeArchiveError(
                f"site archive has more than {max_files} entries (at {member.name!r}): refused"
            )
        rel = _safe_relative_path(member)
        if rel in seen:
            raise UnsafeArchiveError(f"site archive member {member.name!r} appears twice: refused")
        seen.add(rel)
        reader.after = f"member {member.name!r}"
        target = staging / rel
        if member.isdir():
            _make_dirs(target, staging, member)
            continue
        if member.size > max_member_bytes:
            raise UnsafeArchiveError(
                f"site archive member {member.name!r} is {member.size} bytes, over the "
                f"{max_member_bytes}-byte limit per file: refused"
            )
        if written_total + member.size > max_total_bytes:
            raise UnsafeArchiveError(
                f"site archive member {member.name!r} takes the site over {max_total_bytes} "
                "bytes unpacked (a decompression bomb?): refused"
            )
        reader.limit += member.size
        written_total += _write_member(
            tar,
            member,
            target,
            staging,
            member_budget=max_member_bytes,
            total_budget=max_total_bytes - written_total,
        )


def _safe_relative_path(member: tarfile.TarInfo) -> str:
    """The member's path inside the site, or UnsafeArchiveError naming it."""
    name = member.name
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hard link"
        raise UnsafeArchiveError(
            f"site archive member {name!r} is a {kind} (to {member.linkname!r}): links are "
            "never allowed in a site archive"
        )
    if member.issparse():
        raise UnsafeArchiveError(f"site archive member {name!r} is a sparse file: refused")
    if not (member.isreg() or member.isdir()):
        kind = {
            tarfile.CHRTYPE: "character device",
            tarfile.BLKTYPE: "block device",
            tarfile.FIFOTYPE: "FIFO",
        }.get(member.type, f"entry of type {member.type!r}")
        raise UnsafeArchiveError(
            f"site archive member {name!r} is a {kind}: only regular files and folders are allowed"
        )
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise UnsafeArchiveError(
            f"site archive member {name!r} is not a relative POSIX path inside the site: refused"
        )
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"site archive member {name!r} has a '..' component (it would escape the "
            "site folder): refused"
        )
    if not parts:
        if member.isdir():
            return "."
        raise UnsafeArchiveError(f"site archive member {name!r} has no file name: refused")
    return "/".join(parts)


def _make_dirs(target: Path, staging: Path, member: tarfile.TarInfo) -> None:
    _check_inside(target, staging, member)  # before mkdir: never create a folder outside
    try:
        target.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise UnsafeArchiveError(
            f"site archive member {member.name!r} conflicts with a file of the same name: refused"
        ) from exc
    _check_inside(target, staging, member)


def _write_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    target: Path,
    staging: Path,
    *,
    member_budget: int,
    total_budget: int,
) -> int:
    """Stream one regular file to disk, counting real bytes; returns the count."""
    _make_dirs(target.parent, staging, member)
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - isreg() members always have data
        raise UnsafeArchiveError(f"site archive member {member.name!r} has no data: refused")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, FILE_MODE)
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        raise UnsafeArchiveError(
            f"site archive member {member.name!r} conflicts with an earlier entry: refused"
        ) from exc
    written = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := _read_member(source, member):
            written += len(chunk)
            if written > member_budget or written > total_budget:
                raise UnsafeArchiveError(
                    f"site archive member {member.name!r} unpacks past the size limits "
                    "(a decompression bomb?): refused"
                )
            out.write(chunk)
    return written


def _read_member(source: IO[bytes], member: tarfile.TarInfo) -> bytes:
    try:
        return source.read(_COPY_BYTES)
    except tarfile.TarError as exc:
        raise UnsafeArchiveError(
            f"site archive member {member.name!r} is truncated or corrupt ({exc}): refused"
        ) from exc


def _check_inside(path: Path, staging: Path, member: tarfile.TarInfo) -> None:
    """Belt and braces: no links are ever created, but make sure anyway."""
    if not path.resolve().is_relative_to(staging.resolve()):
        raise UnsafeArchiveError(f"site archive member {member.name!r} escapes the site folder")


def _check_trailer(reader: _BudgetedReader, archive: Path) -> None:
    """Only zero padding may follow the end marker; reading it lets gzip check its CRC."""
    reader.limit = reader.consumed + _TRAILER_BUDGET
    reader.after = "the end of the tar archive"
    while chunk := reader.read(64 * 1024):
        if chunk.count(0) != len(chunk):
            raise UnsafeArchiveError(
                f"site archive {archive.name} has data after the end of the tar archive "
                "(corrupt, or not one tar.gz): refused"
            )


def _not_a_site_archive(archive: Path, exc: BaseException) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive.name} is not a valid gzip-compressed tar archive (.tar.gz) or is "
        f"truncated ({type(exc).__name__}: {exc}): refused"
    )


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
