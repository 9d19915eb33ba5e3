"""Render examples/hello on this machine, top to bottom.

This is what `make demo` runs. It uses the same plan → chunks → assemble path
as a distributed render; only the workers are local processes.
"""

from pathlib import Path

import av

import framerun
from framerun.progress import RenderProgressBar

HERE = Path(__file__).parent
OUT = HERE.parent / "out" / "hello.mp4"


def main() -> None:
    OUT.parent.mkdir(exist_ok=True)  # the renderer refuses to create folders for you

    # Variables override the defaults the composition declares on <html>.
    with RenderProgressBar() as bar:
        result = framerun.render(
            HERE / "hello",
            OUT,
            variables={"title": "Hello from framerun"},
            on_plan=bar.start,
            on_frames=bar.advance,
        )

    # Read the file back: a render is only done when the video decodes.
    with av.open(str(result.output)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.demux(stream) if _.size)
        seconds = float(stream.duration * stream.time_base)

    print(f"video: {result.output.resolve()}")
    print(
        f"size: {result.bytes / 1e6:.2f} MB, {frames} frames, {seconds:.2f} s, "
        f"rendered in {result.seconds:.1f} s"
    )


# Workers are separate processes that re-import this file: keep the work under
# the __main__ guard, as with any multiprocessing program.
if __name__ == "__main__":
    main()
