"""Signed webhooks: tell a caller's endpoint that a render ended, provably from us.

The signature header is ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``"<t>." + body`` with a secret shared with the receiver. Signing the timestamp
with the body lets :func:`verify` refuse replays of an old delivery; several
``v1=`` values may appear (one per secret while a secret is rotated). Every
attempt of one delivery carries the same ``X-Framerun-Event-Id``, so a receiver
can drop duplicates that retries produce.

The rule lives in ``framerun_service.core.signing``; a receiver needs only
:func:`verify` (standard library only).
"""

from framerun_service.core.signing import (
    DEFAULT_TOLERANCE_S as DEFAULT_TOLERANCE_S,
)
from framerun_service.core.signing import (
    EVENT_ID_HEADER as EVENT_ID_HEADER,
)
from framerun_service.core.signing import (
    SIGNATURE_HEADER as SIGNATURE_HEADER,
)
from framerun_service.core.signing import (
    SIGNATURE_VERSION as SIGNATURE_VERSION,
)
from framerun_service.core.signing import sign as sign
from framerun_service.core.signing import verify as verify
