"""Remove one defence, run the reliability test that guards it, expect it to fail.

    .venv/bin/python tests/reliability/mutants.py            # every mutant
    .venv/bin/python tests/reliability/mutants.py audience   # just one

Each mutant runs in a copy of the checkout (under a temporary folder), never in
the working tree: ``framerun`` and ``framerun_service`` are put first on
PYTHONPATH, so the test process and the gunicorn service it starts both import
the mutated copy. A mutant "survives" if its tests still pass: that defence
would then be untested. Exit status 0 only if every mutant was killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    what: str
    path: str
    edits: tuple[tuple[str, str], ...]  # (text that must be there, its replacement)
    tests: tuple[str, ...]


FAULTS = "tests/reliability/test_rel_faults.py"
_VERIFY = "            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())\n"
ATTACKS = "tests/reliability/test_rel_attacks.py"
MUTANTS = {
    "precondition": Mutant(
        "create-only uploads: drop if_generation_match=0 (the generation precondition)",
        "service/framerun_service/core/storage.py",
        (("                        if_generation_match=0,\n", ""),),
        (f"{FAULTS}::test_the_same_chunk_delivered_twice_at_once_is_written_once",),
    ),
    "audience": Mutant(
        "OIDC: stop checking the token's audience",
        "service/framerun_service/auth.py",
        (
            (
                "        if not isinstance(aud, str) or aud not in self.audiences:\n",
                "        if not isinstance(aud, str):\n",
            ),
        ),
        (f"{ATTACKS}::test_a_bad_token_is_refused_and_nothing_is_written",),
    ),
    # Each half of the path check covers for the other, so "the path check" is both.
    "archive-path": Mutant(
        "archives: drop the path check (the '..' refusal and the resolved-inside check)",
        "service/framerun_service/render/archive.py",
        (
            ('    if ".." in parts:\n', "    if False:\n"),
            (
                "    if not path.resolve().is_relative_to(staging.resolve()):\n",
                "    if False:\n",
            ),
        ),
        (f"{ATTACKS}::test_a_hostile_site_archive_is_refused_and_nothing_escapes",),
    ),
    "links": Mutant(
        "archives: let links and special files through (extracted as tarfile would)",
        "service/framerun_service/render/archive.py",
        (
            ("    if member.issym() or member.islnk():\n", "    if False:\n"),
            ("    if not (member.isreg() or member.isdir()):\n", "    if False:\n"),
        ),
        (f"{ATTACKS}::test_a_hostile_site_archive_is_refused_and_nothing_escapes",),
    ),
    "alg-none": Mutant(
        "OIDC: honour alg none (skip the signature when the token says so)",
        "service/framerun_service/auth.py",
        (
            ('        if alg != "RS256":\n', '        if alg not in ("RS256", "none"):\n'),
            (_VERIFY, f'            if alg != "none":\n    {_VERIFY}'),
        ),
        (f"{ATTACKS}::test_a_bad_token_is_refused_and_nothing_is_written",),
    ),
    "invoker": Mutant(
        "OIDC: accept any verified email (no invoker allow-list)",
        "service/framerun_service/auth.py",
        (("        if email.lower() not in self.allowed_emails:\n", "        if False:\n"),),
        (f"{ATTACKS}::test_a_bad_token_is_refused_and_nothing_is_written",),
    ),
    "expiry": Mutant(
        "OIDC: ignore exp",
        "service/framerun_service/auth.py",
        (("        if now > exp + skew:\n", "        if False:\n"),),
        (f"{ATTACKS}::test_a_bad_token_is_refused_and_nothing_is_written",),
    ),
}


def _copy_tree(root: Path) -> Path:
    dest = root / "framerun"
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", "node_modules", "out", "__pycache__", "*.egg-info", ".stamps"
    )
    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
    (dest / "node_modules").symlink_to(REPO / "node_modules")
    pkgs = root / "pkgs"
    pkgs.mkdir()
    (pkgs / "framerun").symlink_to(dest / "sdk" / "framerun")
    (pkgs / "framerun_service").symlink_to(dest / "service" / "framerun_service")
    return dest


def _apply(dest: Path, mutant: Mutant) -> None:
    path = dest / mutant.path
    text = path.read_text()
    for old, new in mutant.edits:
        if old not in text:
            raise SystemExit(f"{mutant.path} no longer contains {old!r}: update mutants.py")
        text = text.replace(old, new)
    path.write_text(text)


def run(name: str) -> bool:
    """True if the mutant was killed (its tests failed)."""
    mutant = MUTANTS[name]
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as tmp:
        dest = _copy_tree(Path(tmp))
        _apply(dest, mutant)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(Path(tmp) / "pkgs"), str(dest)]),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rf"]
        result = subprocess.run(
            [*command, *mutant.tests],
            cwd=dest,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    killed = result.returncode == 1 and bool(failed)
    print(f"{'KILLED ' if killed else 'SURVIVED'} {name}: {mutant.what}")
    for line in failed[:3]:
        print(f"    {line[:300]}")
    for line in [x for x in result.stdout.splitlines() if x.startswith("E ")][:4]:
        print(f"      {line[:300]}")
    if not killed:
        print(result.stdout[-2000:], result.stderr[-2000:])
    return killed


def main(names: list[str]) -> int:
    chosen = names or list(MUTANTS)
    results = [run(name) for name in chosen]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
