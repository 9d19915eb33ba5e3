"""framerun: render HTML compositions to video, locally or on Cloud Run.

Importing this package is light; the engine loads when a render starts.
"""

from framerun.errors import (
    BrowserCrashedError as BrowserCrashedError,
)
from framerun.errors import (
    ChunkMismatchError as ChunkMismatchError,
)
from framerun.errors import (
    CompositionNotFoundError as CompositionNotFoundError,
)
from framerun.errors import (
    CompositionTimeoutError as CompositionTimeoutError,
)
from framerun.errors import (
    FramerunError as FramerunError,
)
from framerun.errors import (
    InvalidCompositionError as InvalidCompositionError,
)
from framerun.errors import (
    InvalidConfigError as InvalidConfigError,
)
from framerun.errors import (
    InvalidInputError as InvalidInputError,
)
from framerun.errors import (
    OutputNotWritableError as OutputNotWritableError,
)
from framerun.errors import (
    PageScriptError as PageScriptError,
)
from framerun.errors import (
    PlanHashMismatchError as PlanHashMismatchError,
)
from framerun.errors import (
    VariablesInvalidError as VariablesInvalidError,
)
from framerun.render import render as render

__version__ = "0.1.0"

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
    "render",
]
