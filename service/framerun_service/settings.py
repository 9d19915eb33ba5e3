"""The Cloud Run service's settings, read once at app creation (``FRAMERUN_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSettings:
    """The Cloud Run service's configuration, read once at app creation."""

    render_bucket: str
    max_body_bytes: int = 1024 * 1024
    work_dir: str = "/tmp/framerun"
    project_id: str = ""
    webhook_secret: str = ""  # signs completion webhooks (HMAC-SHA256)
    allow_loopback_webhooks: bool = False  # the local stack's receivers are on loopback
    # Pages that draw one chunk at once (render/chunk.py): one per core keeps every core
    # of the instance busy. Terraform sets FRAMERUN_CHUNK_PAGES to the instance's vCPUs,
    # because a container may see the host's cores; elsewhere it is the cores this
    # process may run on.
    chunk_pages: int = 1
    # The most instances Cloud Run starts (Terraform's max_instance_count, one chunk per
    # instance): a plan may not ask for more chunks at once. None: no such bound here.
    max_instances: int | None = None

    @classmethod
    def from_env(cls) -> ServiceSettings:
        env = os.environ
        bucket = env.get("FRAMERUN_RENDER_BUCKET", "")
        if not bucket:
            raise ValueError(
                "FRAMERUN_RENDER_BUCKET is not set: the service refuses every gs:// URI "
                "outside this bucket, so it must know it (Terraform sets it)"
            )
        return cls(
            render_bucket=bucket,
            work_dir=env.get("FRAMERUN_WORK_DIR", "/tmp/framerun"),
            project_id=env.get("GOOGLE_CLOUD_PROJECT", ""),
            webhook_secret=env.get("FRAMERUN_WEBHOOK_SECRET", ""),
            allow_loopback_webhooks=env.get("FRAMERUN_WEBHOOK_ALLOW_LOOPBACK", "") == "1",
            chunk_pages=_positive("FRAMERUN_CHUNK_PAGES", env.get("FRAMERUN_CHUNK_PAGES"))
            or len(os.sched_getaffinity(0)),
            max_instances=_positive("FRAMERUN_MAX_INSTANCES", env.get("FRAMERUN_MAX_INSTANCES")),
        )


def _positive(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} is '{raw}'; use a whole number ≥ 1")
    return int(raw)
