"""The handle of a started render: what to poll and where the video will be.

A leaf of its own because three modules need it and none of them should import
another for it: starting a render (:mod:`framerun.cloudrun`) returns one,
cancelling and resuming (:mod:`framerun.render_control`) and waiting
(:mod:`framerun.render_progress`) accept one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RenderHandle:
    """A started render: what to poll (``execution_name``) and where the video will be."""

    render_id: str
    execution_name: str
    output_uri: str
    bucket_name: str
    started_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The wire form (camelCase), so a handle can be saved and picked up later."""
        return {
            "renderId": self.render_id,
            "executionName": self.execution_name,
            "outputUri": self.output_uri,
            "bucketName": self.bucket_name,
            "startedAt": self.started_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RenderHandle:
        """Read back what :meth:`to_json` wrote."""
        return cls(
            render_id=data["renderId"],
            execution_name=data["executionName"],
            output_uri=data["outputUri"],
            bucket_name=data["bucketName"],
            started_at=datetime.fromisoformat(data["startedAt"]),
        )


def execution_name_of(handle_or_execution_name: RenderHandle | str) -> str:
    """The execution to act on.

    Every call that takes a handle also takes a bare execution name, because the
    CLI and log lines only ever have the name.
    """
    if isinstance(handle_or_execution_name, RenderHandle):
        return handle_or_execution_name.execution_name
    return handle_or_execution_name
