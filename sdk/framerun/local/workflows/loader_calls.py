"""``call`` steps and ``retry`` policies: which functions exist and what they take.

A call names an HTTP function, ``sys.log``, ``sys.sleep``, the executions connector
(``connectors.py``) or a subworkflow; a
retry policy names a built-in policy or predicate, or a subworkflow as predicate.
Built-ins are checked as they are read; subworkflows are recorded and checked once
every subworkflow is loaded (a call may name one defined further down the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .connectors import CONNECTOR_ARGS
from .loader_values import NAME_RE, ValueLoader
from .model import Backoff, CallBody, Const, MapTemplate, RetryPolicy, Routine

HTTP_METHODS = {
    "http.get": "GET",
    "http.post": "POST",
    "http.put": "PUT",
    "http.patch": "PATCH",
    "http.delete": "DELETE",
    "http.request": None,  # method from args
}
_HTTP_ARGS = {"url", "body", "headers", "query", "timeout", "auth"}
_HTTP_UNSUPPORTED_ARGS = {"private_service_name"}
LOG_SEVERITIES = (
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
)
RETRY_PREDICATES = (
    "http.default_retry_predicate",
    "http.default_retry_predicate_non_idempotent",
    "retry.always",
    "retry.never",
)
# Built-in policies: predicate, max_retries, and retry.default_backoff (1 s, 60 s, x1.25).
RETRY_POLICIES = {
    "http.default_retry": "http.default_retry_predicate",
    "http.default_retry_non_idempotent": "http.default_retry_predicate_non_idempotent",
}
_DEFAULT_BACKOFF = Backoff(Const(1), Const(60), Const(1.25))


@dataclass(frozen=True)
class _RoutineRef:
    name: str
    arg_names: tuple[str, ...] | None  # None: a retry predicate (called with the error)
    routine: str
    step: str


class CallLoader(ValueLoader):
    """Reads calls and retry policies; records the subworkflows they name in ``refs``
    for :meth:`_check_ref` to check against the loaded workflow."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[_RoutineRef] = []

    # -- calls --------------------------------------------------------------------------

    def _call(self, spec: dict[str, Any], routine: str) -> CallBody:
        function = spec["call"]
        if not isinstance(function, str) or not function:
            self._syntax("'call' names a function or subworkflow")
        args = self._map(spec.get("args"), "'args'")
        result = self._target(spec["result"]) if "result" in spec else None
        if result is not None and result.path:
            self._syntax("'result' is a variable name")
        if function in HTTP_METHODS:
            self._http_args(function, args)
        elif function == "sys.log":
            self._log_args(args)
        elif function == "sys.sleep":
            if set(args.names()) != {"seconds"}:
                self._syntax("sys.sleep takes exactly one argument: seconds")
        elif function in CONNECTOR_ARGS:
            allowed, required = CONNECTOR_ARGS[function]
            for key in args.names():
                if key not in allowed:
                    self._syntax(f"{function} has no argument '{key}'")
            for key in required:
                if args.get(key) is None:
                    self._syntax(f"{function} needs '{key}'")
        elif "." in function or not NAME_RE.match(function):
            self._unsupported(f"call '{function}'")
        else:
            self.refs.append(_RoutineRef(function, tuple(args.names()), routine, self.step))
        return CallBody(function, args, result)

    def _http_args(self, function: str, args: MapTemplate) -> None:
        allowed = _HTTP_ARGS | ({"method"} if function == "http.request" else set())
        for key in args.names():
            if key in _HTTP_UNSUPPORTED_ARGS:
                self._unsupported(f"{function} argument '{key}'")
            if key not in allowed:
                self._syntax(f"{function} has no argument '{key}'")
        required = ["url", "method"] if function == "http.request" else ["url"]
        for key in required:
            if args.get(key) is None:
                self._syntax(f"{function} needs '{key}'")
        auth = args.get("auth")
        if isinstance(auth, MapTemplate):
            for key in auth.names():
                if key not in ("type", "audience", "scopes"):
                    self._syntax(f"auth has no field '{key}'")
            kind = auth.get("type")
            if isinstance(kind, Const):
                if kind.value == "OAuth2":
                    self._unsupported("auth type OAuth2 (use OIDC for Cloud Run)")
                if kind.value != "OIDC":
                    self._syntax(f"auth type must be OIDC or OAuth2, got {kind.value!r}")
        elif isinstance(auth, Const) and auth.value is not None:
            self._syntax("auth must be a map {type: OIDC, audience: ...}")

    def _log_args(self, args: MapTemplate) -> None:
        keys = set(args.names())
        payloads = keys & {"data", "text", "json"}
        if len(payloads) != 1:
            self._syntax("sys.log takes exactly one of data, text or json")
        extra = keys - {"data", "text", "json", "severity"}
        if extra:
            self._syntax(f"sys.log has no argument '{sorted(extra)[0]}'")
        severity = args.get("severity")
        if isinstance(severity, Const) and severity.value not in LOG_SEVERITIES:
            self._syntax(f"severity must be one of {', '.join(LOG_SEVERITIES)}")

    # -- retry policies -----------------------------------------------------------------

    def _retry(self, raw: Any, routine: str) -> RetryPolicy:
        if isinstance(raw, str):
            name = self._reference(raw, "retry")
            if name not in RETRY_POLICIES:
                self._unsupported(f"retry policy '{raw}'")
            return RetryPolicy(RETRY_POLICIES[name], Const(5), _DEFAULT_BACKOFF)
        if not isinstance(raw, dict):
            self._syntax("'retry' is ${http.default_retry} or {predicate, max_retries, backoff}")
        for key in raw:
            if key not in ("predicate", "max_retries", "backoff"):
                self._syntax(f"retry has no field '{key}'")
        if "predicate" not in raw or "max_retries" not in raw:
            self._syntax("a custom retry needs 'predicate' and 'max_retries'")
        predicate = self._reference(raw["predicate"], "predicate")
        if "." in predicate:
            if predicate not in RETRY_PREDICATES:
                self._unsupported(f"retry predicate '{predicate}'")
        else:
            self.refs.append(_RoutineRef(predicate, None, routine, self.step))
        backoff = _DEFAULT_BACKOFF
        if "backoff" in raw:
            spec = raw["backoff"]
            fields = ("initial_delay", "max_delay", "multiplier")
            if not isinstance(spec, dict) or set(spec) - set(fields):
                self._syntax("backoff is {initial_delay, max_delay, multiplier}")
            defaults = (Const(1), Const(60), Const(1.25))
            backoff = Backoff(
                *(
                    self._template(spec[f]) if f in spec else d
                    for f, d in zip(fields, defaults, strict=True)
                )
            )
        return RetryPolicy(predicate, self._template(raw["max_retries"]), backoff)

    # -- subworkflow references ---------------------------------------------------------

    def _check_ref(self, ref: _RoutineRef, routines: dict[str, Routine]) -> None:
        self.routine, self.step = ref.routine, ref.step
        target = routines.get(ref.name)
        if target is None:
            if "." in ref.name:
                self._unsupported(f"call '{ref.name}'")
            self._syntax(f"calls '{ref.name}', but no subworkflow has that name")
        if ref.arg_names is None:
            if not target.params:
                self._syntax(f"retry predicate '{ref.name}' must take one parameter (the error)")
            return
        names = {p.name for p in target.params}
        for arg in ref.arg_names:
            if arg not in names:
                self._syntax(f"'{ref.name}' has no parameter '{arg}'")
        missing = [p.name for p in target.params if p.required and p.name not in ref.arg_names]
        if missing:
            self._syntax(f"calls '{ref.name}' without its parameter(s) {', '.join(missing)}")
