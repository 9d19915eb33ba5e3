"""Read workflow YAML the way Cloud Workflows does, not the way PyYAML defaults to.

PyYAML speaks YAML 1.1: ``no``/``yes``/``on``/``off`` become booleans (a step named
``no`` would turn into the key ``False``) and ``2024-01-01`` becomes a date, which
is no Workflows value. This loader keeps YAML 1.2's core schema for booleans,
leaves dates as strings, and rejects duplicate keys instead of silently keeping
the last one.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["load_yaml"]


class _WorkflowLoader(yaml.SafeLoader):
    pass


# Drop the YAML 1.1 bool and timestamp resolvers, then add YAML 1.2 core booleans.
_WorkflowLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WorkflowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _construct_mapping(loader: _WorkflowLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_WorkflowLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> Any:
    """Parse workflow source (YAML, or JSON, which is YAML) into plain Python values."""
    return yaml.load(text, Loader=_WorkflowLoader)
