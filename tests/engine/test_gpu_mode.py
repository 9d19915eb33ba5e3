"""Software GL only: WebGL must be SwiftShader and no composition may ask for a hardware
GPU, or pixels would depend on the machine (BROWSER_GPU_NOT_SOFTWARE)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from framerun_service.core.errors import BrowserGpuNotSoftwareError
from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.checks import check_gpu_mode, check_gpu_renderer
from framerun_service.render.probe import probe_composition
from framerun_service.render.settings import EngineSettings, engine_settings
from tests.compositions import write_composition

SWIFTSHADER = (
    "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)"
)


@pytest.mark.parametrize("renderer", [SWIFTSHADER, "Google SwiftShader", "swiftshader"])
def test_swiftshader_renderers_pass(renderer: str) -> None:
    assert check_gpu_renderer(renderer) == renderer


@pytest.mark.parametrize(
    "renderer",
    [
        "ANGLE (NVIDIA Corporation, NVIDIA GeForce RTX 3080/PCIe/SSE2, OpenGL 4.5.0)",
        "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)",
        "llvmpipe (LLVM 15.0.7, 256 bits)",  # software, but not the one every worker has
        "",
    ],
)
def test_other_renderers_are_refused_by_name(renderer: str) -> None:
    with pytest.raises(BrowserGpuNotSoftwareError) as info:
        check_gpu_renderer(renderer)
    assert info.value.code == "BROWSER_GPU_NOT_SOFTWARE"
    assert repr(renderer) in info.value.message
    assert "--use-angle=swiftshader" in info.value.message


def test_no_webgl_at_all_is_refused() -> None:
    with pytest.raises(BrowserGpuNotSoftwareError, match="WebGL is unavailable"):
        check_gpu_renderer(None)


def test_hardware_mode_elements_are_refused() -> None:
    check_gpu_mode([])
    with pytest.raises(BrowserGpuNotSoftwareError, match=r"<div#scene> has data-gpu-mode"):
        check_gpu_mode(["div#scene"])


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    session = BrowserSession()
    yield session
    session.close()


def _spec(project: Path) -> PageSpec:
    return PageSpec(project, "index.html", 320, 240, 30.0, {})


@pytest.mark.parametrize(
    ("body", "root_attrs"),
    [
        ("", 'data-width="320" data-height="240" data-gpu-mode="hardware"'),
        ("<div><canvas id='scene' data-gpu-mode=' Hardware '></canvas></div>", None),
        ("<script>document.body.dataset.gpuMode = 'hardware';</script>", None),
    ],
)
def test_a_composition_asking_for_a_hardware_gpu_is_refused(
    tmp_path: Path, session: BrowserSession, body: str, root_attrs: str | None
) -> None:
    project = write_composition(tmp_path / "p", body, root_attrs=root_attrs)
    with pytest.raises(BrowserGpuNotSoftwareError, match='data-gpu-mode="hardware"'):
        probe_composition(session, _spec(project))


def test_software_mode_renders_on_swiftshader_probed_once_per_launch(
    tmp_path: Path, session: BrowserSession
) -> None:
    project = write_composition(
        tmp_path / "p",
        "<canvas id='c' data-gpu-mode='software'></canvas><script>"
        "document.getElementById('c').getContext('webgl').clearColor(1, 0, 0, 1);</script>",
    )
    first = probe_composition(session, _spec(project))
    probed = dict(session._renderers)
    second = probe_composition(session, _spec(project))
    assert "SwiftShader" in first.renderer
    assert second.renderer == first.renderer
    # Probed on the first composition page, not again for the second.
    assert session._renderers == probed and len(probed) == 1


def test_a_browser_without_swiftshader_webgl_is_refused_live(tmp_path: Path) -> None:
    """The live path: Chrome flags that take SwiftShader WebGL away fail the first page."""
    settings = replace(engine_settings(), extra_chrome_args=("--disable-webgl",))
    project = write_composition(tmp_path / "p", "<div class='box'></div>")

    def run() -> None:
        session = BrowserSession(settings)
        try:
            session.open(_spec(project))
        finally:
            session.close()

    # Its own thread: one thread can drive only one sync Playwright (the module's session).
    with (
        ThreadPoolExecutor(1) as pool,
        pytest.raises(BrowserGpuNotSoftwareError, match="WebGL is unavailable"),
    ):
        pool.submit(run).result()


def test_extra_chrome_args_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMERUN_CHROME_ARGS", "--disable-webgl --use-angle='swiftshader'")
    assert EngineSettings.from_env().extra_chrome_args == (
        "--disable-webgl",
        "--use-angle=swiftshader",
    )
