"""Storage against a real fake-gcs-server, and its error mapping against tiny fake servers."""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import os
import socket
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.cloud.storage.retry import DEFAULT_RETRY

from framerun_service.core.errors import (
    FramerunError,
    InternalError,
    InvalidRequestError,
    ObjectNotFoundError,
    StorageAccessDeniedError,
    StorageUnavailableError,
)
from framerun_service.core.storage import ObjectInfo, Storage, gs_uri, parse_gs_uri

MiB = 1024 * 1024

# -- URIs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("gs://my-bucket/key", ("my-bucket", "key")),
        ("gs://my_bucket.example.com/a/b/c.json", ("my_bucket.example.com", "a/b/c.json")),
        ("gs://abc/sites/ünïcode file.tar.gz", ("abc", "sites/ünïcode file.tar.gz")),
        ("gs://abc/" + "k" * 1024, ("abc", "k" * 1024)),
    ],
)
def test_parse_gs_uri_accepts(uri: str, expected: tuple[str, str]) -> None:
    assert parse_gs_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "my-bucket/key",
        "s3://my-bucket/key",
        "http://my-bucket/key",
        "gs://my-bucket",
        "gs://my-bucket/",
        "gs:///key",
        "gs://ab/key",  # bucket too short
        "gs://My-Bucket/key",  # upper case
        "gs://-bucket/key",
        "gs://bucket-/key",
        "gs://bucket..x/key",
        "gs://192.168.1.10/key",
        "gs://goog-bucket/key",
        "gs://my-google-bucket/key",
        "gs://" + "b" * 64 + "/key",
        "gs://my-bucket/../key",
        "gs://my-bucket/a/../../key",
        "gs://my-bucket/a/./key",
        "gs://my-bucket//key",
        "gs://my-bucket/a/",
        "gs://my-bucket/a\nb",
        "gs://my-bucket/a\x00b",
        "gs://my-bucket/\ud800",
        "gs://my-bucket/" + "k" * 1025,
    ],
)
def test_parse_gs_uri_refuses_with_the_uri_in_the_message(uri: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_gs_uri(uri)
    assert repr(uri)[1:-1][:60] in info.value.message
    assert info.value.http_status == 400
    assert not info.value.retryable


def test_gs_uri_builds_and_validates() -> None:
    assert gs_uri("my-bucket", "a/b") == "gs://my-bucket/a/b"
    with pytest.raises(InvalidRequestError):
        gs_uri("my-bucket", "../x")


def test_storage_methods_validate_uris_before_any_request(storage: Storage) -> None:
    for call in (
        lambda: storage.read_bytes("gs://my-bucket/../x"),
        lambda: storage.stat("gs://x/y"),
        lambda: storage.upload_bytes_if_absent(b"x", "gs://my-bucket/"),
        lambda: storage.list_keys("gs://my-bucket/../"),
    ):
        with pytest.raises(InvalidRequestError):
            call()


# -- round trips ----------------------------------------------------------------


def test_bytes_round_trip_and_stat(storage: Storage, gcs_bucket: str) -> None:
    uri = f"gs://{gcs_bucket}/records/a.bin"
    data = os.urandom(1000)
    assert storage.upload_bytes_if_absent(
        data, uri, metadata={"framerun-kind": "test", "plan-hash": "abc"}, content_type="x/y"
    )
    assert storage.read_bytes(uri) == data
    info = storage.stat(uri)
    assert isinstance(info, ObjectInfo)
    assert info.uri == uri
    assert info.size == len(data)
    assert info.generation > 0
    assert info.metadata == {"framerun-kind": "test", "plan-hash": "abc"}
    assert info.content_type == "x/y"
    assert info.md5_hash == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert info.crc32c
    assert storage.exists(uri)


def test_json_round_trip_is_canonical(storage: Storage, gcs_bucket: str) -> None:
    uri = f"gs://{gcs_bucket}/plans/p.json"
    record = {"b": [1, 2.5, None], "a": {"z": "ü", "y": True}}
    assert storage.write_json_if_absent(uri, record, metadata={"k": "v"})
    assert storage.read_json(uri) == record
    assert storage.read_bytes(uri) == b'{"a":{"y":true,"z":"\\u00fc"},"b":[1,2.5,null]}'
    info = storage.stat(uri)
    assert info is not None
    assert info.content_type == "application/json"
    assert info.metadata == {"k": "v"}


def test_file_round_trip(storage: Storage, gcs_bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "chunk.mp4"
    src.write_bytes(os.urandom(300_000))
    uri = f"gs://{gcs_bucket}/chunks/0000.mp4"
    assert storage.upload_file_if_absent(
        src, uri, metadata={"frames": "0-29"}, content_type="video/mp4"
    )
    dest = tmp_path / "out" / "chunk.mp4"
    dest.parent.mkdir()
    storage.download_to(uri, dest)
    assert dest.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["chunk.mp4"]  # no .part left
    info = storage.stat(uri)
    assert info is not None
    assert (info.size, info.content_type, info.metadata) == (
        300_000,
        "video/mp4",
        {"frames": "0-29"},
    )


def test_read_json_of_non_json_is_an_invalid_request(storage: Storage, gcs_bucket: str) -> None:
    uri = f"gs://{gcs_bucket}/not.json"
    storage.upload_bytes_if_absent(b"\xffnot json", uri)
    with pytest.raises(InvalidRequestError, match="is not valid JSON") as info:
        storage.read_json(uri)
    assert uri in info.value.message


def test_overwrite_json_replaces_a_mutable_record(storage: Storage, gcs_bucket: str) -> None:
    uri = f"gs://{gcs_bucket}/status.json"
    storage.overwrite_json(uri, {"state": "running"})
    storage.overwrite_json(uri, {"state": "done"})
    assert storage.read_json(uri) == {"state": "done"}


# -- create-only writes -----------------------------------------------------------


def test_upload_bytes_if_absent_never_overwrites(storage: Storage, gcs_bucket: str) -> None:
    uri = f"gs://{gcs_bucket}/once.bin"
    assert storage.upload_bytes_if_absent(b"first", uri, metadata={"n": "1"}) is True
    before = storage.stat(uri)
    assert storage.upload_bytes_if_absent(b"second", uri, metadata={"n": "2"}) is False
    assert storage.write_json_if_absent(uri, {"third": 3}) is False
    assert storage.read_bytes(uri) == b"first"
    assert storage.stat(uri) == before


@pytest.mark.parametrize("size", [1000, 9 * MiB], ids=["multipart", "resumable"])
def test_upload_file_if_absent_never_overwrites(
    storage: Storage, gcs_bucket: str, tmp_path: Path, size: int
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"1" * size)
    second.write_bytes(b"2" * size)
    uri = f"gs://{gcs_bucket}/artifacts/x"
    assert storage.upload_file_if_absent(first, uri) is True
    before = storage.stat(uri)
    assert before is not None
    assert storage.upload_file_if_absent(second, uri) is False
    assert storage.stat(uri) == before
    assert storage.read_bytes(uri) == first.read_bytes()


def test_the_precondition_alone_refuses_an_existing_object(
    storage: Storage, gcs_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stat shortcut is not what protects small uploads: the 412 is."""
    uri = f"gs://{gcs_bucket}/raced"
    assert storage.upload_bytes_if_absent(b"winner", uri)
    before = storage.stat(uri)
    monkeypatch.setattr(storage, "exists", lambda uri: False)  # as if we lost a race
    loser = tmp_path / "loser"
    loser.write_bytes(b"loser")
    assert storage.upload_file_if_absent(loser, uri) is False
    assert storage.read_bytes(uri) == b"winner"
    assert storage.stat(uri) == before


# -- not found ------------------------------------------------------------------------


def test_missing_objects_map_to_object_not_found(
    storage: Storage, gcs_bucket: str, tmp_path: Path
) -> None:
    uri = f"gs://{gcs_bucket}/nope/missing.json"
    dest = tmp_path / "dl" / "missing.json"
    dest.parent.mkdir()
    for call in (
        lambda: storage.read_bytes(uri),
        lambda: storage.read_json(uri),
        lambda: storage.download_to(uri, dest),
    ):
        err = _raised(call)
        assert isinstance(err, ObjectNotFoundError)
        assert issubclass(type(err), FileNotFoundError)
        assert uri in err.message
        assert (err.code, err.http_status, err.retryable) == ("OBJECT_NOT_FOUND", 404, False)
    assert list(dest.parent.iterdir()) == []  # no partial download left behind
    assert storage.stat(uri) is None
    assert not storage.exists(uri)


def test_missing_bucket_maps_to_object_not_found(storage: Storage, fake_gcs: object) -> None:
    uri = "gs://framerun-no-such-bucket/x"
    read = _raised(lambda: storage.read_bytes(uri))
    assert isinstance(read, ObjectNotFoundError)
    assert uri in read.message
    write = _raised(lambda: storage.upload_bytes_if_absent(b"x", uri))
    assert isinstance(write, ObjectNotFoundError)
    assert "bucket 'framerun-no-such-bucket' does not exist" in write.message
    assert isinstance(
        _raised(lambda: storage.list_keys("gs://framerun-no-such-bucket/")), ObjectNotFoundError
    )
    assert storage.stat(uri) is None


# -- listing -----------------------------------------------------------------------------


def test_list_keys(storage: Storage, gcs_bucket: str) -> None:
    keys = [
        "runs/1/plan.json",
        "runs/1/chunks/0001.mp4",
        "runs/1/chunks/0000.mp4",
        "runs/10/x",
        "z",
    ]
    for key in keys:
        storage.upload_bytes_if_absent(b"x", f"gs://{gcs_bucket}/{key}")
    assert storage.list_keys(f"gs://{gcs_bucket}/runs/1/") == [
        "runs/1/chunks/0000.mp4",
        "runs/1/chunks/0001.mp4",
        "runs/1/plan.json",
    ]
    assert storage.list_keys(f"gs://{gcs_bucket}/runs/1") == sorted(keys[:4])
    assert storage.list_keys(f"gs://{gcs_bucket}/") == sorted(keys)
    assert storage.list_keys(f"gs://{gcs_bucket}") == sorted(keys)
    assert storage.list_keys(f"gs://{gcs_bucket}/nothing/") == []


# -- streaming ---------------------------------------------------------------------------


def _peak_memory(call: Callable[[], object]) -> int:
    """Peak bytes allocated by Python while ``call`` runs."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_big_objects_stream_both_ways_without_being_held_whole(
    storage: Storage, gcs_bucket: str, tmp_path: Path
) -> None:
    size = 24 * MiB
    src = tmp_path / "big.bin"
    with src.open("wb") as fh:
        for _ in range(size // MiB):
            fh.write(os.urandom(MiB))
    uri = f"gs://{gcs_bucket}/big.bin"

    # Resumable upload, 8 MiB chunks: google holds about two chunks at a time.
    peak = _peak_memory(lambda: storage.upload_file_if_absent(src, uri))
    assert peak < 20 * MiB, f"upload held {peak / MiB:.1f} MiB in memory"

    dest = tmp_path / "big.out"
    peak = _peak_memory(lambda: storage.download_to(uri, dest))
    assert peak < 10 * MiB, f"download held {peak / MiB:.1f} MiB in memory"
    assert dest.stat().st_size == size
    assert _sha256(dest) == _sha256(src)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return digest.hexdigest()


# -- error mapping against servers that fail ------------------------------------------

FAST_RETRY = DEFAULT_RETRY.with_timeout(0.25).with_delay(initial=0.01, maximum=0.05)


class _StatusServer(ThreadingHTTPServer):
    """Answers every request with one HTTP status and a GCS-style JSON error."""

    daemon_threads = True

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _StatusHandler)
        self.status = status
        self.requests = 0


class _StatusHandler(BaseHTTPRequestHandler):
    server: _StatusServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests += 1
        body = json.dumps({"error": {"code": self.server.status, "message": "injected"}}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


StatusServerFactory = Callable[[int], _StatusServer]


@pytest.fixture
def status_server() -> Iterator[StatusServerFactory]:
    """Start servers answering a given status on 127.0.0.1 (stopped after the test)."""
    servers: list[_StatusServer] = []

    def start(status: int) -> _StatusServer:
        server = _StatusServer(status)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _storage_at(endpoint: str) -> Storage:
    client = gcs.Client(
        project="framerun-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )
    return Storage(client, retry=FAST_RETRY, timeout=(1.0, 1.0))


def _every_call(storage: Storage, tmp_path: Path) -> list[Callable[[], object]]:
    uri = "gs://framerun-bucket/some/key.json"
    src = tmp_path / "src"
    src.write_bytes(b"x")
    return [
        lambda: storage.read_bytes(uri),
        lambda: storage.download_to(uri, tmp_path / "dl"),
        lambda: storage.stat(uri),
        lambda: storage.list_keys("gs://framerun-bucket/some/"),
        lambda: storage.upload_bytes_if_absent(b"x", uri),
        lambda: storage.upload_file_if_absent(src, uri),
        lambda: storage.overwrite_json(uri, {}),
    ]


def _raised(call: Callable[[], object]) -> FramerunError:
    """The framerun error ``call`` raises, detached from its traceback.

    google-cloud-storage's download path never closes a streamed response it
    rejects (``_media/requests/download.py``: ``_process_response`` raises with
    the response open), so each failed attempt leaves a socket for the garbage
    collector, which warns (ResourceWarning, an error here). Collect those
    sockets now, with that one warning ignored, instead of letting them fail a
    later test at random.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            call()
        except FramerunError as exc:
            err = type(exc)(exc.message)
        else:
            pytest.fail("no error raised")
        gc.collect()
    return err


def test_nothing_listening_is_storage_unavailable(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        storage = _storage_at(f"http://127.0.0.1:{sock.getsockname()[1]}")
        with storage:
            for call in _every_call(storage, tmp_path):
                started = time.monotonic()
                err = _raised(call)
                assert time.monotonic() - started < 5
                assert isinstance(err, StorageUnavailableError)
                assert (err.code, err.http_status, err.retryable) == (
                    "STORAGE_UNAVAILABLE",
                    503,
                    True,
                )
                assert "gs://framerun-bucket/some/" in err.message
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_storage_unavailable(
    status_server: StatusServerFactory, tmp_path: Path, status: int
) -> None:
    server = status_server(status)
    storage = _storage_at(f"http://127.0.0.1:{server.server_address[1]}")
    calls = _every_call(storage, tmp_path)
    if status != 503:  # every call once is enough; the other statuses: a read and a write
        calls = [calls[0], calls[4]]
    with storage:
        for call in calls:
            before = server.requests
            err = _raised(call)
            assert isinstance(err, StorageUnavailableError)
            assert err.retryable
            assert "gs://framerun-bucket/some/" in err.message
            assert server.requests - before > 1, "a transient status must be retried"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_access_denied_and_not_retried(
    status_server: StatusServerFactory, tmp_path: Path, status: int
) -> None:
    server = status_server(status)
    storage = _storage_at(f"http://127.0.0.1:{server.server_address[1]}")
    with storage:
        for call in _every_call(storage, tmp_path):
            before = server.requests
            err = _raised(call)
            assert isinstance(err, StorageAccessDeniedError)
            assert server.requests - before == 1, "a refusal must not be retried"
            assert (err.code, err.http_status, err.retryable) == (
                "STORAGE_ACCESS_DENIED",
                500,
                False,
            )
            assert "roles/storage.objectAdmin" in err.message
            assert "'framerun-bucket'" in err.message


def test_other_statuses_are_internal_errors(
    status_server: StatusServerFactory, tmp_path: Path
) -> None:
    server = status_server(400)
    storage = _storage_at(f"http://127.0.0.1:{server.server_address[1]}")
    with storage:
        err = _raised(lambda: storage.read_bytes("gs://framerun-bucket/k"))
    assert type(err) is InternalError
    assert (err.code, err.retryable) == ("INTERNAL", True)
    assert "gs://framerun-bucket/k" in err.message
