"""framerun: render HTML compositions to video, locally or on Cloud Run.

Importing this package is light; the engine loads when a render starts, and the
Google Cloud clients when a distributed render first talks to the cloud.
"""

import typing as _typing

from framerun.download import download as download
from framerun.errors import ArgumentTooLargeError as ArgumentTooLargeError
from framerun.errors import AssetFetchFailedError as AssetFetchFailedError
from framerun.errors import BatchInvalidError as BatchInvalidError
from framerun.errors import BrowserCrashedError as BrowserCrashedError
from framerun.errors import BrowserGpuNotSoftwareError as BrowserGpuNotSoftwareError
from framerun.errors import ChunkMismatchError as ChunkMismatchError
from framerun.errors import CompositionNotFoundError as CompositionNotFoundError
from framerun.errors import CompositionTimeoutError as CompositionTimeoutError
from framerun.errors import DeploySourceNotFoundError as DeploySourceNotFoundError
from framerun.errors import DeployStepFailedError as DeployStepFailedError
from framerun.errors import ExecutionNotFoundError as ExecutionNotFoundError
from framerun.errors import FontFetchFailedError as FontFetchFailedError
from framerun.errors import FramerunError as FramerunError
from framerun.errors import IdempotencyKeyConflictError as IdempotencyKeyConflictError
from framerun.errors import InternalError as InternalError
from framerun.errors import InvalidCompositionError as InvalidCompositionError
from framerun.errors import InvalidConfigError as InvalidConfigError
from framerun.errors import InvalidInputError as InvalidInputError
from framerun.errors import MediaInvalidError as MediaInvalidError
from framerun.errors import OutputNotWritableError as OutputNotWritableError
from framerun.errors import PageScriptError as PageScriptError
from framerun.errors import PermissionCheckFailedError as PermissionCheckFailedError
from framerun.errors import PlanHashMismatchError as PlanHashMismatchError
from framerun.errors import RenderFailedError as RenderFailedError
from framerun.errors import RenderStillRunningError as RenderStillRunningError
from framerun.errors import RenderTimeoutError as RenderTimeoutError
from framerun.errors import TargetNotConfiguredError as TargetNotConfiguredError
from framerun.errors import ToolNotFoundError as ToolNotFoundError
from framerun.errors import VariablesInvalidError as VariablesInvalidError
from framerun.errors import WebhookDeliveryError as WebhookDeliveryError
from framerun.errors import WebhookSignatureError as WebhookSignatureError
from framerun.errors import WorkflowNotFoundError as WorkflowNotFoundError
from framerun.errors import WorkflowsAccessDeniedError as WorkflowsAccessDeniedError
from framerun.errors import WorkflowsUnavailableError as WorkflowsUnavailableError
from framerun.render import render as render

if _typing.TYPE_CHECKING:
    from framerun.batch import BatchLineResult as BatchLineResult
    from framerun.batch import BatchReport as BatchReport
    from framerun.batch import render_batch as render_batch
    from framerun.cloudrun import render_to_cloud_run as render_to_cloud_run
    from framerun.costs import Costs as Costs
    from framerun.costs import estimate_costs as estimate_costs
    from framerun.doctor import PermissionReport as PermissionReport
    from framerun.doctor import check_permissions as check_permissions
    from framerun.executions import ExecutionsApi as ExecutionsApi
    from framerun.executions import executions_client as executions_client
    from framerun.preview import start_preview as start_preview
    from framerun.progress_records import RenderErrorInfo as RenderErrorInfo
    from framerun.progress_records import RenderProgress as RenderProgress
    from framerun.render_control import cancel_render as cancel_render
    from framerun.render_control import resume_render as resume_render
    from framerun.render_handle import RenderHandle as RenderHandle
    from framerun.render_progress import get_render_progress as get_render_progress
    from framerun.render_progress import wait_for_render as wait_for_render
    from framerun.renders import DeletedRender as DeletedRender
    from framerun.renders import RenderSummary as RenderSummary
    from framerun.renders import delete_render as delete_render
    from framerun.renders import get_render as get_render
    from framerun.renders import list_renders as list_renders
    from framerun.sites import SiteHandle as SiteHandle
    from framerun.sites import deploy_site as deploy_site
    from framerun.target import CloudRunTarget as CloudRunTarget

# Where each public name lives, imported on first use (PEP 562): ``import framerun``
# and the ``framerun`` command then load only what they touch, so a render's first
# frame does not wait for the cloud client's modules.
_LAZY = {
    "BatchLineResult": "framerun.batch",
    "BatchReport": "framerun.batch",
    "render_batch": "framerun.batch",
    "render_to_cloud_run": "framerun.cloudrun",
    "Costs": "framerun.costs",
    "estimate_costs": "framerun.costs",
    "PermissionReport": "framerun.doctor",
    "check_permissions": "framerun.doctor",
    "ExecutionsApi": "framerun.executions",
    "executions_client": "framerun.executions",
    "start_preview": "framerun.preview",
    "RenderErrorInfo": "framerun.progress_records",
    "RenderProgress": "framerun.progress_records",
    "cancel_render": "framerun.render_control",
    "resume_render": "framerun.render_control",
    "RenderHandle": "framerun.render_handle",
    "get_render_progress": "framerun.render_progress",
    "wait_for_render": "framerun.render_progress",
    "DeletedRender": "framerun.renders",
    "RenderSummary": "framerun.renders",
    "delete_render": "framerun.renders",
    "get_render": "framerun.renders",
    "list_renders": "framerun.renders",
    "SiteHandle": "framerun.sites",
    "deploy_site": "framerun.sites",
    "CloudRunTarget": "framerun.target",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'framerun' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "ArgumentTooLargeError",
    "AssetFetchFailedError",
    "BatchInvalidError",
    "BatchLineResult",
    "BatchReport",
    "BrowserCrashedError",
    "BrowserGpuNotSoftwareError",
    "ChunkMismatchError",
    "CloudRunTarget",
    "CompositionNotFoundError",
    "CompositionTimeoutError",
    "Costs",
    "DeletedRender",
    "DeploySourceNotFoundError",
    "DeployStepFailedError",
    "ExecutionNotFoundError",
    "ExecutionsApi",
    "FontFetchFailedError",
    "FramerunError",
    "IdempotencyKeyConflictError",
    "InternalError",
    "InvalidCompositionError",
    "InvalidConfigError",
    "InvalidInputError",
    "MediaInvalidError",
    "OutputNotWritableError",
    "PageScriptError",
    "PermissionCheckFailedError",
    "PermissionReport",
    "PlanHashMismatchError",
    "RenderErrorInfo",
    "RenderFailedError",
    "RenderHandle",
    "RenderProgress",
    "RenderStillRunningError",
    "RenderSummary",
    "RenderTimeoutError",
    "SiteHandle",
    "TargetNotConfiguredError",
    "ToolNotFoundError",
    "VariablesInvalidError",
    "WebhookDeliveryError",
    "WebhookSignatureError",
    "WorkflowNotFoundError",
    "WorkflowsAccessDeniedError",
    "WorkflowsUnavailableError",
    "cancel_render",
    "check_permissions",
    "delete_render",
    "deploy_site",
    "download",
    "estimate_costs",
    "executions_client",
    "get_render",
    "get_render_progress",
    "list_renders",
    "render",
    "render_batch",
    "render_to_cloud_run",
    "resume_render",
    "start_preview",
    "wait_for_render",
]
