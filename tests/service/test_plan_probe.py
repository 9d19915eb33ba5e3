"""The plan Action opens the page once, so a composition that cannot render fails at
plan time — before any chunk fans out — with its typed code, and writes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from framerun_service.core.storage import Storage
from tests.compositions import write_composition
from tests.service.service_harness import RunningService, upload_site

BROKEN = {
    "FONT_FETCH_FAILED": (
        "<style>@font-face { font-family: Brand; src: url(fonts/missing.woff2); }"
        " .t { font-family: Brand; }</style><div class='t'>Hi</div>"
    ),
    "ASSET_FETCH_FAILED": (
        "<script>fetch('http://169.254.169.254/computeMetadata/v1/instance/"
        "service-accounts/default/token').catch(() => {});</script>"
    ),
    "BROWSER_GPU_NOT_SOFTWARE": '<div data-gpu-mode="hardware"></div>',
    "PAGE_SCRIPT_ERROR": (
        "<script>requestAnimationFrame(function f(t) { if (t > 900) throw new Error('late');"
        " requestAnimationFrame(f); });</script>"
    ),
}


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_a_composition_that_cannot_render_fails_the_plan(
    service: RunningService, tmp_path: Path, code: str
) -> None:
    project = write_composition(tmp_path / "site", BROKEN[code], width=64, height=48)
    site_uri = upload_site(service, project, tmp_path / "archive")
    render_id = f"probe-{uuid.uuid4().hex[:8]}"
    with Storage.from_env() as store:
        response = service.post(
            {
                "Action": "plan",
                "renderId": render_id,
                "siteUri": site_uri,
                "outputUri": f"gs://{service.bucket}/outputs/{render_id}.mp4",
                "config": {},
            }
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["retryable"] is False
        assert "Traceback" not in response.text
        written = [b.name for b in store.client.list_blobs(service.bucket, prefix="renders/")]
        assert not [name for name in written if render_id in name]
