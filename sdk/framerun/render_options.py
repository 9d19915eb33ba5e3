"""The render config as keyword arguments: ``render_to_cloud_run(p, chunk_size=40)``.

``framerun.render()`` takes snake_case keywords; the wire config the service
reads is camelCase JSON. The keywords of ``render_to_cloud_run`` are the fields
of the service's ``RenderConfig`` (the same names as ``framerun.render()``'s),
and this module turns them into wire keys through the config's own field list,
so the mapping is written once. The camelCase dict stays accepted; a setting
given both ways with different values is refused rather than silently picked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framerun_service.core.errors import InvalidConfigError


def merge_render_options(
    config: Mapping[str, Any] | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The wire config: ``config`` (camelCase) with ``options`` (snake_case, None = unset).

    Raises InvalidConfigError for an option that is not a config field, or one
    that contradicts the same key in ``config``.
    """
    from framerun_service.render.config import WIRE_KEYS

    if config is not None and not isinstance(config, Mapping):
        raise InvalidConfigError(f"config must be an object, got {type(config).__name__}")
    wire = dict(config or {})
    for name, value in options.items():
        if value is None:
            continue
        key = WIRE_KEYS.get(name)
        if key is None:
            raise InvalidConfigError(
                f"{name} is not a render setting; known: {', '.join(sorted(WIRE_KEYS))}"
            )
        value = _plain(value)
        given = wire.get(key)
        if given is not None and _plain(given) != value:
            raise InvalidConfigError(
                f"{name}={value!r} contradicts the config's {key!r}: {given!r}; "
                "give each setting once (the keyword, or the config dict)"
            )
        wire[key] = value
    return wire


def _plain(value: Any) -> Any:
    """JSON's shapes, so ``frames=(0, 30)`` equals the config's ``[0, 30]``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
