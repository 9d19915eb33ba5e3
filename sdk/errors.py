"""framerun's error tree (defined once, in ``framerun_service.errors``; re-exported here)."""

from framerun_service.errors import (
    BrowserCrashedError,
    ChunkMismatchError,
    CompositionNotFoundError,
    CompositionTimeoutError,
    FramerunError,
    InvalidCompositionError,
    InvalidConfigError,
    InvalidInputError,
    OutputNotWritableError,
    PageScriptError,
    PlanHashMismatchError,
    VariablesInvalidError,
)

__all__ = [
    "BrowserCrashedError",
    "ChunkMismatchError",
    "CompositionNotFoundError",
    "CompositionTimeoutError",
    "FramerunError",
    "InvalidCompositionError",
    "InvalidConfigError",
    "InvalidInputError",
    "OutputNotWritableError",
    "PageScriptError",
    "PlanHashMismatchError",
    "VariablesInvalidError",
]
