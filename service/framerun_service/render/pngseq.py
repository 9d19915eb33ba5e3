"""PNG sequences: the captured PNG bytes as they are, numbered, in tars or a folder.

Nothing is re-encoded: Chrome's PNG (RGB, or RGBA on a transparent page) is
already lossless. A chunk is one uncompressed tar of its frames; the output is
either one tar (``.tar``: the distributed output object) or a folder of
``frame_000000.png``… (a local render). Concatenation streams member by member
— one PNG in flight, never a whole chunk — and renumbers frames from 0, as a
video's timestamps start at 0 whatever ``--frames`` range was rendered.

Every tar carries its plan tag in a pax global header, so assemble refuses a
chunk from another plan just as it does a video chunk. Members get fixed
owners, modes and mtime 0, so a chunk re-rendered from the same plan is the
same bytes, and any chunking of a render yields the same output tar.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from framerun_service.core.errors import ChunkMismatchError, OutputNotWritableError

FRAME_NAME = "frame_{:06d}.png"
TAG_KEY = "comment"  # the pax global header that holds the plan tag
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: "gray", 2: "rgb", 3: "palette", 4: "gray+alpha", 6: "rgba"}


def png_header(data: bytes) -> tuple[int, int, str]:
    """(width, height, colour type) from a PNG's IHDR, without decoding it."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ChunkMismatchError("a frame is not a PNG; re-render the chunk")
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, _COLOUR_TYPES.get(colour, str(colour))


def tag_of(chunk: Path) -> str:
    """The plan tag a chunk tar carries (empty if none)."""
    try:
        with tarfile.open(chunk, mode="r:") as tar:
            return str(tar.pax_headers.get(TAG_KEY, ""))
    except tarfile.TarError as exc:
        raise ChunkMismatchError(
            f"chunk {chunk.name} is not a readable tar ({exc}); re-render it"
        ) from None


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info


def _open_tar_writer(fileobj: IO[bytes], plan_tag: str) -> tarfile.TarFile:
    return tarfile.open(
        fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT, pax_headers={TAG_KEY: plan_tag}
    )


class PngChunkWriter:
    """A chunk of a PNG sequence: the frames, in order, in one uncompressed tar.

    The same interface as ``ChunkEncoder``; written to ``path`` (a temporary
    name: the caller renames it into place once ``close`` returns).
    """

    def __init__(self, path: Path, *, width: int, height: int, plan_tag: str = "") -> None:
        self.path = path
        self.size = (width, height)
        self._file = path.open("wb")
        self._tar = _open_tar_writer(self._file, plan_tag)
        self._last: bytes | None = None
        self.frames = 0

    def add_png(self, data: bytes) -> None:
        width, height, _ = png_header(data)
        if (width, height) != self.size:
            raise ChunkMismatchError(
                f"the browser captured {width}×{height}, the plan is {self.size[0]}×"
                f"{self.size[1]}; check the page's device scale factor"
            )
        self._tar.addfile(_member(FRAME_NAME.format(self.frames), len(data)), io.BytesIO(data))
        self._last = data
        self.frames += 1

    def repeat(self) -> None:
        """Write the previous frame's PNG again (the page showed it unchanged)."""
        if self._last is None:
            raise ValueError("repeat() before any frame was added")
        self.add_png(self._last)

    def add_jpeg(self, data: bytes) -> None:
        raise TypeError("a PNG sequence is captured as PNG; render with capture_format 'png'")

    def close(self) -> None:
        self._tar.close()
        self._file.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the file is discarded anyway
            self._tar.close()
        self._file.close()
        self.path.unlink(missing_ok=True)


class PngSequenceTar:
    """The output tar, fed one chunk at a time (so a caller can fetch, append and
    drop each chunk in turn); the frames are renumbered from 0."""

    def __init__(self, path: Path, *, plan_tag: str) -> None:
        self.path = path
        self.frames = 0
        self._reader = _Frames(plan_tag)
        self._file = path.open("wb")
        self._tar = _open_tar_writer(self._file, plan_tag)

    def append_chunk(self, chunk: Path) -> int:
        """Copy the chunk's frames to the end of the output; returns how many."""
        before = self.frames
        for member, data in self._reader.of(chunk):
            self._tar.addfile(_member(FRAME_NAME.format(self.frames), member.size), data)
            self.frames += 1
        return self.frames - before

    def close(self) -> None:
        self._tar.close()
        self._file.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._tar.close()
        self._file.close()
        self.path.unlink(missing_ok=True)


class _Frames:
    """Reads chunks' frames in order and refuses any that do not belong together:
    another plan's tag, or another size or colour type than the first frame."""

    def __init__(self, plan_tag: str) -> None:
        self.plan_tag = plan_tag
        self.header: tuple[int, int, str] | None = None

    def of(self, chunk: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
        """The chunk's PNG members, each read from the tar as it is copied."""
        try:
            with tarfile.open(chunk, mode="r:") as tar:
                # Read mode parses the pax global header with the first member.
                tag = tar.pax_headers.get(TAG_KEY, "")
                if tag != self.plan_tag:
                    raise ChunkMismatchError(
                        f"chunk {chunk.name} belongs to a different plan "
                        f"({tag or 'untagged'}, expected {self.plan_tag}); "
                        "re-render it from the same plan"
                    )
                for member in tar:
                    data = tar.extractfile(member) if member.isfile() else None
                    if data is None:
                        raise ChunkMismatchError(
                            f"chunk {chunk.name} holds {member.name}, not a frame; "
                            "re-render it from the same plan"
                        )
                    self._check(chunk, data)
                    yield member, data
        except tarfile.TarError as exc:
            raise ChunkMismatchError(
                f"chunk {chunk.name} is not a readable tar ({exc}); re-render it"
            ) from None

    def _check(self, chunk: Path, data: IO[bytes]) -> None:
        header = png_header(data.read(26))
        data.seek(0)
        if self.header is None:
            self.header = header
        elif header != self.header:
            raise ChunkMismatchError(
                f"chunk {chunk.name} holds {header[0]}×{header[1]} {header[2]} frames, earlier "
                f"chunks {self.header[0]}×{self.header[1]} {self.header[2]}; "
                "re-render it from the same plan"
            )


def concat_to_tar(chunks: Sequence[Path], out_path: Path, *, plan_tag: str) -> int:
    """All chunks into one tar at ``out_path``, written under a temporary name."""
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    output = PngSequenceTar(tmp, plan_tag=plan_tag)
    try:
        for chunk in chunks:
            output.append_chunk(chunk)
        output.close()
    except BaseException:
        output.abort()
        raise
    os.replace(tmp, out_path)
    return output.frames


def concat_to_folder(chunks: Sequence[Path], out_dir: Path, *, plan_tag: str) -> tuple[int, int]:
    """All chunks as ``out_dir/frame_000000.png``…; returns (frames, bytes).

    Written to a temporary sibling folder that is renamed into place at the end,
    so a failure never leaves a half-written sequence. ``out_dir`` may exist
    only as an empty folder (rename replaces that).
    """
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputNotWritableError(
            f"'{out_dir}' already exists and is not an empty folder; "
            "name a new folder for the PNG sequence"
        )
    tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.partial")
    tmp.mkdir()
    frames = size = 0
    reader = _Frames(plan_tag)
    try:
        for chunk in chunks:
            for member, data in reader.of(chunk):
                with (tmp / FRAME_NAME.format(frames)).open("wb") as out:
                    shutil.copyfileobj(data, out)
                frames += 1
                size += member.size
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return frames, size
