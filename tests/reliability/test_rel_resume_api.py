"""cancel_render / resume_render against the SDK's seams (no servers): what they refuse.

The end-to-end behaviour (chunks reused, counted at the proxy) is in
test_rel_faults.py; these pin the guard rails around it.
"""

from __future__ import annotations

import json

import pytest

from framerun.render_control import cancel_render, resume_render
from framerun.target import CloudRunTarget
from framerun_service.core.errors import ExecutionNotFoundError, InvalidInputError
from framerun_service.core.storage import Storage
from tests.sdk.fakes import FakeExecutions, State

TARGET = CloudRunTarget(
    bucket_name="unused-bucket",
    project_id="p",
    location="l",
    workflow_id="w",
    service_url="https://svc.example.run.app",
)


def _argument(bucket: str, render_id: str = "r-00000000000000000001") -> dict[str, str]:
    return {"renderId": render_id, "requestUri": f"gs://{bucket}/renders/{render_id}/request.json"}


@pytest.fixture
def request_object(storage: Storage, gcs_bucket: str) -> dict[str, str]:
    argument = _argument(gcs_bucket)
    storage.write_json_if_absent(
        argument["requestUri"],
        {
            "siteUri": f"gs://{gcs_bucket}/sites/{'a' * 64}/site.tar.gz",
            "outputUri": f"gs://{gcs_bucket}/videos/out.mp4",
            "config": {},
        },
    )
    return argument


@pytest.mark.parametrize("state", [State.FAILED, State.CANCELLED])
def test_resume_starts_a_new_execution_with_the_same_argument(
    storage: Storage, request_object: dict[str, str], state: object
) -> None:
    fake = FakeExecutions()
    old = fake.add(request_object, state=state)
    handle = resume_render(old, executions=fake, storage=storage, target=TARGET)
    assert fake.creates() == [old.rsplit("/executions/", 1)[0]]
    new = fake.executions[handle.execution_name]
    assert json.loads(new.argument) == request_object
    assert handle.render_id == request_object["renderId"]
    assert handle.output_uri.endswith("/videos/out.mp4")  # from the request, not a default


@pytest.mark.parametrize(
    ("state", "word"), [(State.ACTIVE, "running"), (State.SUCCEEDED, "succeeded")]
)
def test_resume_refuses_a_running_or_finished_render(
    storage: Storage, request_object: dict[str, str], state: object, word: str
) -> None:
    fake = FakeExecutions()
    old = fake.add(request_object, state=state)
    with pytest.raises(InvalidInputError, match=word):
        resume_render(old, executions=fake, storage=storage, target=TARGET)
    assert fake.creates() == []


def test_resume_refuses_when_the_request_object_was_cleaned_up(
    storage: Storage, gcs_bucket: str
) -> None:
    fake = FakeExecutions()
    old = fake.add(_argument(gcs_bucket), state=State.FAILED)
    with pytest.raises(InvalidInputError, match="start a new render"):
        resume_render(old, executions=fake, storage=storage, target=TARGET)
    assert fake.creates() == []


def test_resume_refuses_an_execution_that_is_not_a_render(storage: Storage) -> None:
    fake = FakeExecutions()
    old = fake.add({"something": "else"}, state=State.FAILED)
    with pytest.raises(InvalidInputError, match="not a framerun render"):
        resume_render(old, executions=fake, storage=storage, target=TARGET)


def test_cancel_cancels_and_unknown_executions_are_typed(storage: Storage, gcs_bucket: str) -> None:
    fake = FakeExecutions()
    name = fake.add(_argument(gcs_bucket))
    cancel_render(name, executions=fake, target=TARGET)
    assert fake.executions[name].state == State.CANCELLED
    with pytest.raises(ExecutionNotFoundError):
        resume_render(name + "x", executions=fake, storage=storage, target=TARGET)
