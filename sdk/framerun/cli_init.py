"""``framerun init NAME [--example hello]``: a new project from one of the examples."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import click

from framerun.cli_options import fail
from framerun.errors import FramerunError, InternalError, InvalidInputError
from framerun.scaffold import DEFAULT_EXAMPLE, Scaffolded, examples, scaffold

NPM_INSTALL = ("npm", "install", "--no-audit", "--no-fund")
NPM_TIMEOUT_S = 600


@click.command("init")
@click.argument("name", required=False, type=click.Path(path_type=Path))
@click.option(
    "--example",
    default=DEFAULT_EXAMPLE,
    show_default=True,
    envvar="FRAMERUN_EXAMPLE",
    help="The example to start from (--list shows them).",
)
@click.option(
    "--list",
    "list_examples",
    is_flag=True,
    envvar="FRAMERUN_LIST_EXAMPLES",
    help="List the examples and exit.",
)
@click.option(
    "--no-install",
    is_flag=True,
    envvar="FRAMERUN_NO_INSTALL",
    help="Do not run npm install; print the command that fills vendor/ instead.",
)
def init(name: Path | None, example: str, list_examples: bool, no_install: bool) -> None:
    """Create the folder NAME holding a composition copied from one of the examples, with
    its third-party JavaScript pinned in package.json (npm install copies it into vendor/)."""
    try:
        if list_examples:
            for found in examples().values():
                uses = ", ".join(found.packages) or "no npm packages"
                click.echo(f"{found.name:<10} ({uses})")
            return
        if name is None:
            raise InvalidInputError("name the new project's folder: framerun init NAME")
        made = scaffold(name, example)
        click.echo(f"created {name} from the {example} example")
        installed = made.needs_npm and not no_install and _npm_install(made)
    except FramerunError as exc:
        fail(exc)
        return
    folder = shlex.quote(str(name))
    if made.needs_npm and not installed:
        pins = ", ".join(f"{pkg} {version}" for pkg, version in made.versions.items())
        why = "" if no_install else " (npm is not on PATH)"
        cd = "" if made.project == Path.cwd() else f"cd {folder} && "
        click.echo(f"to fetch its JavaScript ({pins}) into vendor/{why}, run:")
        click.echo(f"  {cd}npm install")
    # NAME.mp4 beside the folder; `init .` names the video after the folder instead.
    stem = str(name).rstrip("/")
    video = shlex.quote(
        f"{stem if Path(stem).name not in ('', '.', '..') else made.project.name}.mp4"
    )
    click.echo("next:")
    click.echo(f"  framerun preview {folder}")
    click.echo(f"  framerun render {folder} -o {video}")


def _npm_install(made: Scaffolded) -> bool:
    """``npm install`` in the new project (its postinstall fills vendor/); False when npm is
    not on PATH. A failed install is an error: the page would load no JavaScript."""
    npm = shutil.which("npm")
    if npm is None:
        return False
    click.echo(f"npm install: {', '.join(f'{p}@{v}' for p, v in made.versions.items())}")
    try:
        done = subprocess.run(
            [npm, *NPM_INSTALL[1:]],
            cwd=made.project,
            capture_output=True,
            text=True,
            check=False,
            timeout=NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise InternalError(
            f"npm install in '{made.project}' took over {NPM_TIMEOUT_S} s; the project is "
            "written, run `npm install` in it when the registry answers"
        ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InternalError(
            f"npm install in '{made.project}' failed ({last}); the project is written, "
            "run `npm install` in it once that is fixed"
        )
    return True
