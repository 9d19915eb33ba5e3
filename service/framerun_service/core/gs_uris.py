"""``gs://bucket/key`` URIs: parsing, validation and formatting, with no I/O.

URIs arrive in Action requests, so nothing is sent to Cloud Storage before it
has been validated here: a bucket name GCS would accept, and an object name
that cannot alias another one (no empty, ``.`` or ``..`` segments, no control
characters, at most 1024 bytes of UTF-8). Every refusal is an
``InvalidRequestError`` naming the offending URI, so the caller learns what to
fix. :mod:`framerun_service.core.storage` re-exports :func:`parse_gs_uri` and
:func:`gs_uri`, the path most callers use.
"""

from __future__ import annotations

import re

from framerun_service.core.errors import InvalidRequestError

_BUCKET_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_MAX_KEY_BYTES = 1024


def parse_gs_uri(uri: str) -> tuple[str, str]:
    """Split ``gs://bucket/key`` into ``(bucket, key)``, refusing anything else.

    URIs arrive in Action requests, so they are validated before use: a valid
    bucket name, a non-empty key of at most 1024 bytes, no empty, ``.`` or ``..``
    segments and no control characters (nothing that could alias another key).
    """
    bucket, key = _split_gs_uri(uri)
    _check_key(uri, key, allow_trailing_slash=False)
    if not key:
        raise InvalidRequestError(f"{uri!r} names no object: expected gs://bucket/key")
    return bucket, key


def parse_gs_prefix(prefix: str) -> tuple[str, str]:
    """Split ``gs://bucket/key-prefix`` into ``(bucket, key_prefix)`` for a listing.

    Validated like :func:`parse_gs_uri`, except that the prefix may be empty
    (the whole bucket) or end with ``/`` (a folder), which no object name may.
    """
    bucket, key_prefix = _split_gs_uri(prefix)
    _check_key(prefix, key_prefix, allow_trailing_slash=True)
    return bucket, key_prefix


def gs_uri(bucket: str, key: str) -> str:
    """The ``gs://`` URI of ``key`` in ``bucket`` (validated like any other)."""
    uri = f"gs://{bucket}/{key}"
    parse_gs_uri(uri)
    return uri


def _split_gs_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise InvalidRequestError(f"{uri!r} is not a gs:// URI: expected gs://bucket/key")
    bucket, _, key = uri[len("gs://") :].partition("/")
    if not _valid_bucket_name(bucket):
        raise InvalidRequestError(
            f"{uri!r} has an invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    return bucket, key


def _valid_bucket_name(name: str) -> bool:
    """GCS bucket naming rules (dotted names may reach 222 characters)."""
    if not _BUCKET_NAME.fullmatch(name) or _IPV4.fullmatch(name):
        return False
    if name.startswith("goog") or "google" in name or ".." in name:
        return False
    if "." in name:
        return len(name) <= 222 and all(0 < len(part) <= 63 for part in name.split("."))
    return 3 <= len(name) <= 63


def _check_key(uri: str, key: str, *, allow_trailing_slash: bool) -> None:
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(f"{uri!r}: object names must be valid UTF-8") from None
    if len(encoded) > _MAX_KEY_BYTES:
        raise InvalidRequestError(f"{uri!r}: object names are at most {_MAX_KEY_BYTES} bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidRequestError(f"{uri!r}: object names may not contain control characters")
    if not key:
        return
    segments = key.split("/")
    if allow_trailing_slash and segments[-1] == "":
        segments = segments[:-1]
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidRequestError(
                f"{uri!r}: object names may not contain empty, '.' or '..' path segments"
            )
