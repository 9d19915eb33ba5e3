"""Batch renders: one composition, one line of variables per video, from a JSONL file.

Each line is ``{"outputKey": "videos/ada.mp4", "variables": {...}, "config": {...}}``
(``config`` optional). Every line is checked before anything starts — JSON,
output key, config, and variables against the composition's declarations in
strict mode — and *all* problems are reported at once, by line number: a typo in
line 9,000 should not surface after 8,999 renders. Then the site is uploaded
once and the renders run with at most ``max_concurrent`` executions in flight:
a new one starts only when another has ended.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framerun.cloudrun import start_prepared
from framerun.executions import (
    CANCELLED,
    FAILED,
    SUCCEEDED,
    ExecutionsApi,
    execution_status,
    owned_executions,
    translated,
)
from framerun.progress_records import RenderErrorInfo, execution_errors
from framerun.render_request import PreparedRender, prepare_render
from framerun.render_validation import check_output_key, validate_render_config
from framerun.sites import deploy_site, hash_site, owned_storage
from framerun.target import CloudRunTarget
from framerun_service.core.errors import BatchInvalidError, FramerunError, InvalidInputError

if TYPE_CHECKING:
    from framerun_service.core.storage import Storage

LINE_KEYS = frozenset({"outputKey", "variables", "config"})
DEFAULT_MAX_CONCURRENT = 50

# Line statuses, besides the execution's own (succeeded | failed | cancelled).
VALID = "valid"  # dry run: would start
INVALID = "invalid"  # dry run: refused, see error
RUNNING = "running"
SKIPPED = "skipped"  # not started: an earlier start failed for a reason every line shares


@dataclass(frozen=True)
class BatchLineResult:
    """One line of the batch file and what became of it."""

    line: int
    output_key: str | None
    status: str
    execution_name: str | None = None
    output_uri: str | None = None
    error: RenderErrorInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "outputKey": self.output_key,
            "executionName": self.execution_name,
            "outputUri": self.output_uri,
            "status": self.status,
            "error": self.error.to_json() if self.error else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchLineResult:
        error = data.get("error")
        return cls(
            line=data["line"],
            output_key=data.get("outputKey"),
            status=data["status"],
            execution_name=data.get("executionName"),
            output_uri=data.get("outputUri"),
            error=RenderErrorInfo.from_json(error) if error else None,
        )


@dataclass(frozen=True)
class BatchReport:
    """Every line's outcome, in file order."""

    lines: tuple[BatchLineResult, ...]
    dry_run: bool
    site_id: str | None

    def count(self, status: str) -> int:
        return sum(1 for line in self.lines if line.status == status)

    @property
    def ok(self) -> bool:
        """True when every line succeeded (or, in a dry run, is valid)."""
        wanted = VALID if self.dry_run else SUCCEEDED
        return all(line.status == wanted for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "siteId": self.site_id,
            "ok": self.ok,
            "lines": [line.to_json() for line in self.lines],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchReport:
        return cls(
            lines=tuple(BatchLineResult.from_json(x) for x in data["lines"]),
            dry_run=data["dryRun"],
            site_id=data.get("siteId"),
        )


@dataclass(frozen=True)
class _Line:
    number: int
    output_key: str
    config: dict[str, Any]


def read_batch(
    project_dir: str | os.PathLike[str], jsonl_path: str | os.PathLike[str]
) -> tuple[list[_Line], list[tuple[int, str, str]]]:
    """Parse and check every line: (valid lines, problems as (line, code, message)).

    Blank lines are skipped. Variables are checked strictly, and the render runs
    with ``strictVariables`` on unless the line's config says otherwise.
    """
    path = Path(jsonl_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read batch file {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"batch file {path} is not UTF-8 text; save it as UTF-8") from None
    lines: list[_Line] = []
    problems: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = _check_line(project_dir, number, raw, seen)
        except FramerunError as exc:
            problems.append((number, exc.code, exc.message))
            continue
        seen[line.output_key] = number
        lines.append(line)
    if not lines and not problems:
        raise InvalidInputError(f"batch file {path} has no lines: write one JSON object per line")
    return lines, problems


def _check_line(
    project_dir: str | os.PathLike[str], number: int, raw: str, seen: Mapping[str, int]
) -> _Line:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - LINE_KEYS)
    if unknown:
        raise InvalidInputError(
            f"unknown key(s) {', '.join(unknown)}; a line has {', '.join(sorted(LINE_KEYS))}"
        )
    if "outputKey" not in data:
        raise InvalidInputError('"outputKey" is missing; name the video, e.g. "videos/1.mp4"')
    key = check_output_key(data["outputKey"])
    if key in seen:
        raise InvalidInputError(
            f'"outputKey" {key!r} is also line {seen[key]}\'s; keys must differ'
        )
    config = data.get("config", {})
    variables = data.get("variables", {})
    if not isinstance(config, dict):
        raise InvalidInputError('"config" must be an object of render options')
    if not isinstance(variables, dict):
        raise InvalidInputError('"variables" must be an object keyed by variable id')
    base_vars = config.get("variables", {})
    if not isinstance(base_vars, dict):
        raise InvalidInputError('"config.variables" must be an object keyed by variable id')
    merged = {**config, "variables": {**base_vars, **variables}}
    merged.setdefault("strictVariables", True)
    validate_render_config({**merged, "strictVariables": True}, project_dir)
    return _Line(number=number, output_key=key, config=merged)


def render_batch(
    project_dir: str | os.PathLike[str],
    jsonl_path: str | os.PathLike[str],
    *,
    target: CloudRunTarget,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    dry_run: bool = False,
    executions: ExecutionsApi | None = None,
    storage: Storage | None = None,
    poll_interval_s: float = 2.0,
    on_event: Callable[[BatchLineResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchReport:
    """Render every line of ``jsonl_path``; at most ``max_concurrent`` executions at once.

    Raises BatchInvalidError listing every bad line (nothing is started); with
    ``dry_run`` returns a report instead (``valid``/``invalid`` per line) and
    touches no cloud API at all. ``on_event`` is called whenever a line starts
    or ends. A line that fails to start is reported failed; if the reason is not
    the line's own (e.g. Workflows unreachable), the lines not yet started are
    reported ``skipped`` and the running ones are still followed to the end.
    """
    if max_concurrent < 1:
        raise InvalidInputError(f"max_concurrent must be ≥ 1, got {max_concurrent}")
    lines, problems = read_batch(project_dir, jsonl_path)
    site_id = hash_site(project_dir)
    # Sizes are checked now too, so an oversized line is a problem, not a failure later.
    prepared: dict[int, PreparedRender] = {}
    for line in lines:
        try:
            prepared[line.number] = prepare_render(
                target, line.config, site_id=site_id, output_key=line.output_key
            )
        except FramerunError as exc:
            problems.append((line.number, exc.code, exc.message))
    problems.sort()
    if dry_run:
        return _dry_run_report(lines, problems, site_id)
    if problems:
        raise BatchInvalidError(
            [(number, message) for number, _, message in problems], source=str(jsonl_path)
        )
    with owned_storage(storage, target) as store, owned_executions(executions, target) as api:
        site = deploy_site(project_dir, target=target, storage=store)
        if site.site_id != site_id:  # a file changed after validation: use what was uploaded
            prepared = {
                n: replace(p, request={**p.request, "siteUri": site.site_uri})
                for n, p in prepared.items()
            }
        runner = _Runner(target, store, api, on_event=on_event)
        results = runner.run(
            [(line, prepared[line.number]) for line in lines],
            max_concurrent=max_concurrent,
            poll_interval_s=poll_interval_s,
            sleep=sleep,
        )
    return BatchReport(lines=results, dry_run=False, site_id=site.site_id)


def _dry_run_report(
    lines: list[_Line], problems: list[tuple[int, str, str]], site_id: str
) -> BatchReport:
    keys = {line.number: line.output_key for line in lines}  # size problems have a key
    bad = {number for number, _, _ in problems}
    results = [
        BatchLineResult(number, keys.get(number), INVALID, error=_validation_error(code, text))
        for number, code, text in problems
    ]
    results += [
        BatchLineResult(line.number, line.output_key, VALID)
        for line in lines
        if line.number not in bad
    ]
    results.sort(key=lambda r: r.line)
    return BatchReport(lines=tuple(results), dry_run=True, site_id=site_id)


def _validation_error(code: str, message: str) -> RenderErrorInfo:
    return RenderErrorInfo(code=code, message=message, step="validate")


class _Runner:
    """Starts lines while fewer than ``max_concurrent`` run; polls the running ones."""

    def __init__(
        self,
        target: CloudRunTarget,
        storage: Storage,
        executions: ExecutionsApi,
        *,
        on_event: Callable[[BatchLineResult], None] | None,
    ) -> None:
        self._target = target
        self._storage = storage
        self._api = executions
        self._on_event = on_event
        self._results: dict[int, BatchLineResult] = {}

    def run(
        self,
        work: list[tuple[_Line, PreparedRender]],
        *,
        max_concurrent: int,
        poll_interval_s: float,
        sleep: Callable[[float], None],
    ) -> tuple[BatchLineResult, ...]:
        pending = deque(work)
        active: dict[str, BatchLineResult] = {}
        while pending or active:
            while pending and len(active) < max_concurrent:
                line, prepared = pending.popleft()
                running = BatchLineResult(line.number, line.output_key, status=RUNNING)
                try:
                    handle = start_prepared(
                        prepared, self._target, storage=self._storage, executions=self._api
                    )
                except FramerunError as exc:
                    error = RenderErrorInfo(exc.code, exc.message, "start", exc.retryable)
                    failed = self._record(replace(running, status=FAILED, error=error))
                    if not isinstance(exc, InvalidInputError):  # the next line would fail too
                        self._skip_all(pending, failed)
                    continue
                active[handle.execution_name] = self._record(
                    replace(
                        running, execution_name=handle.execution_name, output_uri=handle.output_uri
                    )
                )
            if not active:
                break
            sleep(poll_interval_s)
            for name, result in list(active.items()):
                if self._poll(name, result) is not None:
                    del active[name]
        return tuple(self._results[n] for n in sorted(self._results))

    def _record(self, result: BatchLineResult) -> BatchLineResult:
        self._results[result.line] = result
        if self._on_event is not None:
            self._on_event(result)
        return result

    def _skip_all(
        self, pending: deque[tuple[_Line, PreparedRender]], cause: BatchLineResult
    ) -> None:
        assert cause.error is not None
        error = replace(
            cause.error,
            message=f"not started: line {cause.line} could not start ({cause.error.message})",
        )
        while pending:
            line, _ = pending.popleft()
            self._record(BatchLineResult(line.number, line.output_key, status=SKIPPED, error=error))

    def _poll(self, name: str, result: BatchLineResult) -> BatchLineResult | None:
        """The line's final result once its execution has ended, else None."""
        try:
            with translated("read execution", name):
                execution = self._api.get_execution(name=name)
        except FramerunError as exc:
            if exc.retryable:
                return None  # poll again next round
            error = RenderErrorInfo(exc.code, exc.message, "poll", exc.retryable)
            return self._record(replace(result, status=FAILED, error=error))
        status = execution_status(execution)
        if status not in (SUCCEEDED, FAILED, CANCELLED):
            return None
        errors = execution_errors(execution, status)
        return self._record(replace(result, status=status, error=errors[0] if errors else None))
