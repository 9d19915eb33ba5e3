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
        )
