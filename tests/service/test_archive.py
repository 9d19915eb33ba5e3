"""Site archives: deterministic builds, faithful round trips, and every attack refused."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from framerun_service.core.errors import InvalidInputError, UnsafeArchiveError
from framerun_service.render import archive as archive_module
from framerun_service.render.archive import extract_site_archive, make_site_archive
from framerun_service.render.site import resolve_site_path, site_tree_hash

MiB = 1024 * 1024

SITE = {
    "index.html": b"<!doctype html><div id=stage></div>",
    "js/app.js": b"console.log('hi')\n",
    "css/deep/nested/style.css": b"body{margin:0}",
    "assets/ünïcode näme.svg": b"<svg/>",
    "assets/empty.txt": b"",
    "assets/" + "long-name-" * 12 + ".bin": os.urandom(70_000),
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (to prove an attack left nothing anywhere)."""
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "project", SITE)
    write_tree(root / ".git", {"HEAD": b"ref: refs/heads/main"})  # never archived
    write_tree(root / "node_modules" / "gsap", {"index.js": b"//"})  # nor npm's fetches
    return root


# -- building ---------------------------------------------------------------------------


def test_archive_is_deterministic_and_named_by_the_tree_hash(project: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    tree_hash = make_site_archive(project, first)
    assert tree_hash == site_tree_hash(project)
    assert make_site_archive(project, second) == tree_hash
    assert first.read_bytes() == second.read_bytes()

    # The same tree elsewhere, with other times and modes, gives the same bytes.
    copy = shutil.copytree(project, tmp_path / "elsewhere" / "copy")
    for path in copy.rglob("*"):
        if path.is_file():
            path.chmod(0o600)
            os.utime(path, (1_700_000_000, 1_700_000_000))
    third = tmp_path / "c.tar.gz"
    assert make_site_archive(copy, third) == tree_hash
    assert third.read_bytes() == first.read_bytes()


def test_a_changed_file_changes_the_tree_hash_and_the_bytes(project: Path, tmp_path: Path) -> None:
    before = make_site_archive(project, tmp_path / "before.tar.gz")
    (project / "js/app.js").write_bytes(b"console.log('changed')\n")
    after = make_site_archive(project, tmp_path / "after.tar.gz")
    assert after != before
    assert after == site_tree_hash(project)
    assert (tmp_path / "after.tar.gz").read_bytes() != (tmp_path / "before.tar.gz").read_bytes()


def test_archive_members_are_normalised(project: Path, tmp_path: Path) -> None:
    dest = tmp_path / "site.tar.gz"
    make_site_archive(project, dest)
    raw = dest.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert raw[3] & 0x08 == 0  # no file name in the gzip header
    with tarfile.open(dest, "r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(SITE)
    for m in members:
        assert m.isreg()
        assert (m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname) == (0, 0o644, 0, 0, "", "")
    assert oct(dest.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "site.tar.gz"]


def test_a_tree_changing_during_the_build_is_refused(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashes = iter(["a" * 64, "b" * 64])
    monkeypatch.setattr(archive_module, "site_tree_hash", lambda root: next(hashes))
    with pytest.raises(InvalidInputError, match="changed while it was being archived"):
        make_site_archive(project, tmp_path / "site.tar.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no partial archive


def test_a_local_render_serves_what_an_uploaded_site_holds(project: Path) -> None:
    """node_modules and .git are left out of the site, so the local page server refuses
    them too: a page that loads from them fails here as it would on Cloud Run."""
    assert resolve_site_path(project, "/index.html") == (project / "index.html").resolve()
    assert resolve_site_path(project, "/node_modules/gsap/index.js") is None
    assert resolve_site_path(project, "/.git/HEAD") is None


# -- extracting ----------------------------------------------------------------------------


def test_round_trip_extracts_exactly_the_tree(project: Path, tmp_path: Path) -> None:
    archive = tmp_path / "site.tar.gz"
    tree_hash = make_site_archive(project, archive)
    dest = tmp_path / "cache" / tree_hash
    extract_site_archive(archive, dest)
    assert read_tree(dest) == SITE
    assert site_tree_hash(dest) == tree_hash
    assert oct(dest.stat().st_mode & 0o777) == oct(0o755)
    assert all((dest / rel).stat().st_mode & 0o777 == 0o644 for rel in SITE)
    assert sorted(p.name for p in dest.parent.iterdir()) == [tree_hash]  # no staging left


def test_archives_from_other_tools_extract(tmp_path: Path) -> None:
    """``tar czf site.tar.gz -C project .``: ``./`` prefixes and folder entries."""
    src = write_tree(tmp_path / "src", {"index.html": b"<p>", "a/b.js": b"1"})
    archive = tmp_path / "site.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=".")
    dest = tmp_path / "dest"
    dest.mkdir()  # an existing empty folder is fine
    extract_site_archive(archive, dest)
    assert read_tree(dest) == {"index.html": b"<p>", "a/b.js": b"1"}


def test_an_empty_archive_extracts_to_an_empty_site(tmp_path: Path) -> None:
    empty_project = tmp_path / "empty"
    empty_project.mkdir()
    archive = tmp_path / "site.tar.gz"
    make_site_archive(empty_project, archive)
    extract_site_archive(archive, tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_non_empty_destination_is_never_touched(project: Path, tmp_path: Path) -> None:
    archive = tmp_path / "site.tar.gz"
    make_site_archive(project, archive)
    dest = write_tree(tmp_path / "dest", {"keep.txt": b"mine"})
    with pytest.raises(FileExistsError):
        extract_site_archive(archive, dest)
    assert read_tree(dest) == {"keep.txt": b"mine"}


# -- attacks ----------------------------------------------------------------------------------

Member = tuple[tarfile.TarInfo, bytes | None]


def entry(name: str, data: bytes = b"x", **attrs: object) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    if info.type != tarfile.REGTYPE:
        info.size = 0
        return info, None
    return info, data


def build(path: Path, members: list[Member], *, format: int = tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w:gz", format=format) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.fixture
def refuse(tmp_path: Path) -> Callable[..., UnsafeArchiveError]:
    """Extract into tmp/work/site expecting UnsafeArchiveError; prove nothing was written."""
    work = tmp_path / "work"
    work.mkdir()

    def check(archive: Path, **limits: int) -> UnsafeArchiveError:
        before = snapshot(tmp_path)
        with pytest.raises(UnsafeArchiveError) as info:
            extract_site_archive(archive, work / "site", **limits)
        assert snapshot(tmp_path) == before, "the refused archive left files behind"
        assert not (work / "site").exists()
        return info.value

    return check


def attacks(outside: str) -> dict[str, list[Member]]:
    """Hostile archives; ``outside`` is an absolute folder next to the destination."""
    return {
        "zip-slip": [entry("index.html"), entry("../evil")],
        "zip-slip-deep": [entry("a/b/../../../evil")],
        "absolute": [entry("/etc/x")],
        "absolute-next-door": [entry(f"{outside}/evil")],
        "backslash": [entry("..\\evil")],
        "symlink-inside": [
            entry("index.html"),
            entry("link.html", type=tarfile.SYMTYPE, linkname="index.html"),
        ],
        "symlink-escaping": [entry("passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")],
        "symlink-then-write-through-it": [
            entry("d", type=tarfile.SYMTYPE, linkname=outside),
            entry("d/evil"),
        ],
        "hard-link": [
            entry("index.html"),
            entry("copy.html", type=tarfile.LNKTYPE, linkname="index.html"),
        ],
        "hard-link-escaping": [entry("passwd", type=tarfile.LNKTYPE, linkname="/etc/passwd")],
        "character-device": [entry("null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)],
        "block-device": [entry("sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0)],
        "fifo": [entry("pipe", type=tarfile.FIFOTYPE)],
        "duplicate": [entry("index.html", b"good"), entry("index.html", b"evil")],
        "file-then-folder": [entry("a", b"file"), entry("a/b")],
    }


@pytest.mark.parametrize("name", sorted(attacks("/x")))
def test_attacks_are_refused_naming_the_member(
    tmp_path: Path, refuse: Callable[..., UnsafeArchiveError], name: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    members = attacks(str(outside))[name]
    archive = build(tmp_path / f"{name}.tar.gz", members)
    with tarfile.open(archive) as tar:  # the hostile names survive archiving verbatim
        assert tar.getnames() == [info.name for info, _ in members]
    err = refuse(archive)
    assert repr(members[-1][0].name) in err.message or repr(members[0][0].name) in err.message
    assert (err.code, err.http_status, err.retryable) == ("UNSAFE_ARCHIVE", 400, False)
    assert list(outside.iterdir()) == []
    assert not Path("/etc/x").exists()


def test_gnu_format_links_are_refused_too(
    tmp_path: Path, refuse: Callable[..., UnsafeArchiveError]
) -> None:
    long_target = "x/" * 80 + "target"  # needs a GNU long-link record
    archive = build(
        tmp_path / "gnu.tar.gz",
        [entry("l", type=tarfile.SYMTYPE, linkname=long_target)],
        format=tarfile.GNU_FORMAT,
    )
    assert "symlink" in refuse(archive).message


def test_too_many_files(tmp_path: Path, refuse: Callable[..., UnsafeArchiveError]) -> None:
    archive = build(tmp_path / "many.tar.gz", [entry(f"f{i:02d}") for i in range(11)])
    assert "more than 10 entries" in refuse(archive, max_files=10).message
    ok = tmp_path / "ok"
    extract_site_archive(archive, ok, max_files=11)
    assert len(list(ok.iterdir())) == 11


def test_member_over_the_per_file_limit(
    tmp_path: Path, refuse: Callable[..., UnsafeArchiveError]
) -> None:
    archive = build(
        tmp_path / "big.tar.gz", [entry("small", b"x" * 100), entry("big", b"x" * 2000)]
    )
    assert "'big'" in refuse(archive, max_member_bytes=1000).message


def test_oversized_headers_are_refused(
    tmp_path: Path, refuse: Callable[..., UnsafeArchiveError]
) -> None:
    """A forged multi-MB PAX header must not be read into memory whole."""
    info, data = entry("index.html")
    info.pax_headers = {"comment": "x" * (4 * MiB)}
    archive = build(tmp_path / "pax.tar.gz", [(info, data)])
    assert "oversized tar headers" in refuse(archive).message


# -- decompression bombs -----------------------------------------------------------------------


class Zeros(io.RawIOBase):
    """``size`` zero bytes, produced on demand (a bomb without the memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """200 MB of zeros, compressed (~200 KB): as one member, and as twenty 10 MB ones."""
    root = tmp_path_factory.mktemp("bombs")
    one, many = root / "one.tar.gz", root / "many.tar.gz"
    with (
        gzip.GzipFile(one, "wb", compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        info = tarfile.TarInfo("zeros.bin")
        info.size = 200 * 1000 * 1000
        tar.addfile(info, Zeros(info.size))
    with (
        gzip.GzipFile(many, "wb", compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for i in range(20):
            info = tarfile.TarInfo(f"zeros-{i:02d}.bin")
            info.size = 10 * 1000 * 1000
            tar.addfile(info, Zeros(info.size))
    return {"one": one, "many": many}


@pytest.mark.parametrize("kind", ["one", "many"])
def test_decompression_bomb_stops_early(
    tmp_path: Path, refuse: Callable[..., UnsafeArchiveError], bombs: dict[str, Path], kind: str
) -> None:
    archive = tmp_path / "bomb.tar.gz"
    shutil.copyfile(bombs[kind], archive)
    assert archive.stat().st_size < 1 * MiB
    started = time.monotonic()
    err = refuse(archive, max_total_bytes=50 * MiB)
    assert time.monotonic() - started < 5
    assert "decompression bomb" in err.message


def test_bytes_are_counted_while_streaming_not_just_from_headers(
    tmp_path: Path, refuse: Callable[..., UnsafeArchiveError], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if a header's size slipped past the early checks, writing stops at the limit."""
    archive = build(tmp_path / "a.tar.gz", [entry("a", b"x" * (3 * MiB))])
    monkeypatch.setattr(archive_module, "_COPY_BYTES", 64 * 1024)
    real = archive_module._write_member

    def lenient(*args: object, member_budget: int, total_budget: int) -> int:
        return real(*args, member_budget=member_budget, total_budget=1 * MiB)  # type: ignore[arg-type]

    monkeypatch.setattr(archive_module, "_write_member", lenient)
    assert "unpacks past the size limits" in refuse(archive).message


# -- not a tarball -------------------------------------------------------------------------------


def _tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info, data = entry("index.html", b"<p>")
        tar.addfile(info, io.BytesIO(data or b""))
    return buf.getvalue()


NOT_TARBALLS: dict[str, Callable[[], bytes]] = {
    "empty-file": lambda: b"",
    "random-bytes": lambda: os.urandom(4096),
    "html": lambda: b"<!doctype html><p>not an archive</p>",
    "uncompressed-tar": _tar_bytes,
    "gzipped-text": lambda: gzip.compress(b"hello world, no tar here" * 100, mtime=0),
    "empty-gzip": lambda: gzip.compress(b"", mtime=0),
    "truncated-tar-gz": lambda: gzip.compress(_tar_bytes() + os.urandom(50_000), mtime=0)[:-2000],
    "corrupt-gzip": lambda: (lambda raw: raw[:40] + bytes(64) + raw[104:])(
        gzip.compress(_tar_bytes() + os.urandom(5_000), mtime=0)
    ),
    "garbage-after-the-end": lambda: gzip.compress(_tar_bytes() + b"\x01" * 100, mtime=0),
}


@pytest.mark.parametrize("name", sorted(NOT_TARBALLS))
def test_not_a_tarball_is_refused_clearly(
    tmp_path: Path, refuse: Callable[..., UnsafeArchiveError], name: str
) -> None:
    archive = tmp_path / f"{name}.tar.gz"
    archive.write_bytes(NOT_TARBALLS[name]())
    err = refuse(archive)
    assert archive.name in err.message
    assert any(
        phrase in err.message
        for phrase in (
            "not a gzip-compressed tar",
            "not a valid gzip-compressed tar",
            "after the end",
        )
    ), err.message
