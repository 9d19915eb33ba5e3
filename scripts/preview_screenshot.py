"""Take docs/preview.png: the preview page of examples/hello, as a user sees it.

Starts ``framerun preview``'s server on a free port, opens the page in
chrome-headless-shell (the engine's browser, so no browser download), scrubs to
a frame in the middle of the title's entrance and saves the whole page. The PNG
is written next to its destination and renamed, so a failed run leaves the old one.

    .venv/bin/python scripts/preview_screenshot.py [--project examples/hello]
        [--frame 45] [-o docs/preview.png]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from framerun import start_preview
from framerun_service.render.settings import engine_settings

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO / "examples" / "hello")
    parser.add_argument("--frame", type=int, default=45)
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "preview.png")
    args = parser.parse_args()

    with start_preview(args.project, port=0) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=engine_settings().chrome_path)
        page = browser.new_page(viewport={"width": 1280, "height": 760}, device_scale_factor=1)
        page.goto(server.url)
        page.evaluate("() => window.framerunPreview.loaded")
        page.locator("#scrubber").fill(str(args.frame))  # as a user drags the scrubber
        page.wait_for_function(
            "(n) => window.framerunPreview.frame === n && document.body.dataset.state === 'idle'",
            arg=args.frame,
        )
        fd, tmp = tempfile.mkstemp(suffix=".png", dir=args.output.parent)
        os.close(fd)
        try:
            page.screenshot(path=tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes it private
            os.replace(tmp, args.output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        browser.close()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
