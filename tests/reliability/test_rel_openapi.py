"""Bad input: service/framerun_service/openapi.yaml against the running service, and fuzzing it.

The spec is checked against the code (Actions, config keys, enums) and against
the running service (each required field really is required, each mistyped
field refused). Then Hypothesis throws bodies at ``POST /`` with a valid token:
bodies generated from the spec (URIs sometimes pointing at real objects, to get
past the first checks), examples with one field replaced by any JSON, huge
strings, deep nesting, non-JSON bytes and wrong content types. Every answer must
be a typed 4xx (or a 200 the spec describes), never a 5xx, never a stack trace,
and a refused request writes nothing to the bucket.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import framerun_service.core.wire as protocol
from framerun_service.render import config as render_config
from framerun_service.render import encoding
from tests.reliability.rel_stack import (
    REPO,
    RelStack,
    assert_typed_error,
    post,
    soak,
    upload_site,
)

SPEC = yaml.safe_load((REPO / "service" / "framerun_service" / "openapi.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]
REQUESTS = {
    "PlanRequest": "plan",
    "PlanByReferenceRequest": "plan",
    "RenderChunkRequest": "renderChunk",
    "AssembleRequest": "assemble",
    "NotifyRequest": "notify",
}
FUZZ_EXAMPLES = 3000 if soak() else 300
_GS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/")


def resolved(schema: Any) -> Any:
    """``schema`` with every ``#/components/schemas/X`` reference inlined."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return resolved(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]])
        return {k: resolved(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [resolved(v) for v in schema]
    return schema


def example(name: str, bucket: str) -> dict[str, Any]:
    """The spec's example for ``name``, pointed at the test bucket."""
    return json.loads(_GS.sub(f"gs://{bucket}/", json.dumps(SCHEMAS[name]["examples"][0])))


# ---- the spec against the code ---------------------------------------------------------


def test_the_spec_is_openapi_3_1_and_its_schemas_and_examples_are_valid() -> None:
    assert SPEC["openapi"].startswith("3.1")
    validator = jsonschema.Draft202012Validator
    for schema in SCHEMAS.values():
        validator.check_schema(resolved(schema))
        for sample in schema.get("examples", []):
            validator(resolved(schema)).validate(sample)
    assert set(SCHEMAS["Action"]["enum"]) == set(protocol.ACTIONS)
    assert {SCHEMAS[n]["properties"]["Action"]["const"] for n in REQUESTS} == set(protocol.ACTIONS)
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in SCHEMAS["ActionRequest"]["oneOf"]}
    assert refs == set(REQUESTS)


def test_the_config_schema_lists_exactly_the_keys_and_choices_the_service_knows() -> None:
    properties = SCHEMAS["RenderConfig"]["properties"]
    known = set(render_config._WIRE_NAMES)
    assert set(properties) == known, (
        "framerun_service/openapi.yaml RenderConfig is out of date: "
        f"add {sorted(known - set(properties))}, "
        f"remove {sorted(set(properties) - known)}"
    )
    assert set(properties["quality"]["enum"]) - {None} == set(encoding.QUALITIES)
    assert set(properties["format"]["enum"]) - {None} == set(encoding.FORMATS)
    if hasattr(encoding, "CODECS"):
        assert set(properties["codec"]["enum"]) - {None} == set(encoding.CODECS)
    assert SCHEMAS["RenderChunkRequest"]["properties"]["chunkIndex"]["maximum"] == (
        protocol.MAX_CHUNKS - 1
    )
    assert SCHEMAS["NotifyRequest"]["properties"]["status"]["enum"] == list(
        protocol.NOTIFY_STATUSES
    )


# ---- the spec against the running service ----------------------------------------------


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_each_example_passes_validation_and_each_required_field_is_required(
    stack: RelStack, name: str
) -> None:
    body = example(name, stack.bucket)
    if "requestUri" in body:  # the request object exists; the site it names does not
        with stack.storage() as store:
            store.write_json_if_absent(
                body["requestUri"],
                {
                    "siteUri": f"gs://{stack.bucket}/sites/{'0' * 64}/site.tar.gz",
                    "outputUri": f"gs://{stack.bucket}/out/example.mp4",
                    "config": {},
                },
            )
    before = stack.objects()
    # The example is well-formed: the service goes on to look for its objects.
    response = post(stack, body)
    if response.status_code != 200:  # notify has nothing to deliver: 200
        assert assert_typed_error(response, 404)["code"] == "OBJECT_NOT_FOUND"
    for field in SCHEMAS[name]["required"]:
        if field == "Action":
            continue
        partial = {k: v for k, v in body.items() if k != field}
        error = assert_typed_error(post(stack, partial), 400)
        # Without requestUri a plan is read as the inline form, which needs a siteUri.
        named = "siteUri" if (name, field) == ("PlanByReferenceRequest", "requestUri") else field
        assert error["code"] == "INVALID_REQUEST" and named in error["message"], error
    for field, value in body.items():
        if field == "Action":
            continue
        wrong = [1.5, ["x"], {"x": 1}] if isinstance(value, str) else ["x", [1], True]
        for bad in wrong:
            error = assert_typed_error(post(stack, {**body, field: bad}), 400)
            assert error["code"] in ("INVALID_REQUEST", "INVALID_CONFIG"), error
    for field in set(body) - set(SCHEMAS[name]["required"]):  # optional: not "required"
        response = post(stack, {k: v for k, v in body.items() if k != field})
        if response.status_code != 200:
            assert f"'{field}' is required" not in assert_typed_error(response)["message"]
    assert stack.objects() == before


# ---- fuzzing ----------------------------------------------------------------------------


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """Values valid against ``schema``, for the JSON Schema subset openapi.yaml uses.

    (hypothesis-jsonschema would do this, but its releases lag Hypothesis's internals.)
    Optional properties are included or left out at random; objects that allow
    extra properties sometimes get one.
    """
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([from_schema(s) for s in schema["oneOf"]])
    kinds = schema.get("type", ["string", "integer", "boolean", "object", "array", "null"])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return st.one_of([_of_type(kind, schema) for kind in kinds])


def _of_type(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(
            schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False
        )
    if kind == "string":
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True)
            return text.filter(lambda t: len(t) <= schema.get("maxLength", 10**9))
        return st.text(max_size=min(schema.get("maxLength", 40), 40))
    if kind == "array":
        return st.lists(
            from_schema(schema.get("items", {})),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 4),
        )
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    extra = (
        st.dictionaries(st.text(max_size=10), _json_values(), max_size=2)
        if schema.get("additionalProperties", True) is not False
        else st.just({})
    )
    return st.builds(
        lambda fixed, extras: {**extras, **fixed},
        st.fixed_dictionaries(
            {k: from_schema(v) for k, v in properties.items() if k in required},
            optional={k: from_schema(v) for k, v in properties.items() if k not in required},
        ),
        extra,
    )


@pytest.fixture(scope="module")
def real_uris(stack: RelStack, project: Path, tmp_path_factory: pytest.TempPathFactory) -> list:
    """Objects that exist, so generated requests sometimes get past "not found"."""
    site = upload_site(stack, project, tmp_path_factory.mktemp("fuzz-site"))
    request = f"gs://{stack.bucket}/renders/fuzz-request/request.json"
    with stack.storage() as store:
        store.write_json_if_absent(
            request,
            {"siteUri": site, "outputUri": f"gs://{stack.bucket}/fuzz/out.mp4", "config": {}},
        )
    return [site, request]


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    )
    return st.recursive(
        scalars | st.text(max_size=40),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )


def _small_config() -> st.SearchStrategy[dict[str, Any]]:
    """Configs that keep a real plan small (≤ 10 s): big plans are tested on their own."""
    return st.fixed_dictionaries(
        {},
        optional={
            "duration": st.one_of(st.integers(-5, 10), st.text(max_size=8), st.none()),
            "fps": st.one_of(st.integers(-5, 240), st.sampled_from(["30000/1001", "0", "x"])),
            "width": st.one_of(st.integers(-2, 400), st.text(max_size=6)),
            "height": st.one_of(st.integers(-2, 400), st.text(max_size=6)),
            "chunkSize": st.one_of(st.integers(-2, 100), st.text(max_size=4)),
            "quality": st.one_of(
                st.sampled_from(["draft", "standard", "high"]), st.text(max_size=8)
            ),
            "format": st.one_of(st.sampled_from(list(encoding.FORMATS)), st.text(max_size=8)),
            "crf": st.one_of(st.integers(-100, 100), st.floats(allow_nan=False)),
            "bitrate": st.one_of(st.text(max_size=10), st.integers(-10, 10**10)),
            "frames": st.lists(st.integers(-100, 400), max_size=3),
            "maxParallelChunks": st.integers(-1, 40),
            "composition": st.sampled_from(
                ["index.html", "../index.html", "/etc/passwd", "nope", "", "a/../../b"]
            ),
            "variables": st.dictionaries(st.text(max_size=8), _json_values(), max_size=3),
            "strictVariables": st.one_of(st.booleans(), st.integers(0, 1)),
            "webhookUrl": st.sampled_from(
                ["http://169.254.169.254/", "ftp://x", "https://", "https://example.com/h"]
            ),
            "nope": st.integers(),
        },
    )


@st.composite
def bodies(draw: st.DrawFn, bucket: str, real: list[str]) -> tuple[bytes, str]:
    """(raw body, content type) of every kind the fuzz sends."""
    kind = draw(st.sampled_from(["schema", "mutated", "real", "huge", "deep", "raw"]))
    name = draw(st.sampled_from(sorted(REQUESTS)))
    if kind == "schema":
        body = draw(from_schema(resolved(SCHEMAS[name])))
        if draw(st.booleans()):  # the right bucket, so URIs get past the bucket check
            body = json.loads(_GS.sub(f"gs://{bucket}/", json.dumps(body)))
    elif kind == "mutated":
        body = example(name, bucket)
        field = draw(st.sampled_from([*body, "extra"]))
        body[field] = draw(_json_values())
    elif kind == "real":
        body = example(name, bucket)
        site, request = real
        # planUri names the site archive (not JSON); a JSON object that is not a plan
        # is a known 500, kept out of the fuzz and pinned by its own test below.
        body.update({k: site for k in body if k == "planUri"})
        if name == "PlanRequest":
            body["siteUri"] = site
            body["config"] = draw(_small_config())
        elif "requestUri" in body:
            body["requestUri"] = request
        body["renderId"] = draw(st.from_regex(r"\Afuzz-[a-z0-9]{1,12}\Z"))
    elif kind == "huge":
        body = example(name, bucket)
        field = draw(st.sampled_from(list(body)))
        body[field] = "x" * draw(st.sampled_from([70_000, 900_000, 1_100_000]))
    elif kind == "deep":  # spliced in as text: Python's own json can't nest this deep
        depth = draw(st.integers(30, 5000))
        body = example(name, bucket)
        body[draw(st.sampled_from(list(body)))] = "@DEEP@"
        raw = json.dumps(body).replace('"@DEEP@"', "[" * depth + "]" * depth)
        return raw.encode(), "application/json"
    else:
        raw = draw(
            st.one_of(
                st.binary(max_size=200),
                st.sampled_from(
                    [
                        b"",
                        b"null",
                        b"[]",
                        b'"plan"',
                        b"{",
                        b'{"Action": NaN}',
                        b'{"Action": "plan", "Action": "assemble"}',
                        b"\xef\xbb\xbf{}",
                        b'{"chunkIndex": 1e999}',
                        b"[" * 200_000,
                    ]
                ),
            )
        )
        content_type = draw(
            st.sampled_from(
                [
                    "application/json",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                    "",
                ]
            )
        )
        return raw, content_type
    return json.dumps(copy.deepcopy(body)).encode(), "application/json"


def test_fuzzed_bodies_get_a_typed_4xx_and_write_nothing(
    stack: RelStack, real_uris: list[str], figures: dict
) -> None:
    token = stack.service.token()
    tried: dict[str, int] = {}

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not soak(),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(sent=bodies(stack.bucket, real_uris))
    def check(sent: tuple[bytes, str]) -> None:
        data, content_type = sent
        before = stack.objects()
        response = post(stack, data=data, content_type=content_type, token=token)
        tried[str(response.status_code)] = tried.get(str(response.status_code), 0) + 1
        after = stack.objects()
        if response.status_code == 200:
            action = json.loads(data)["Action"]
            result = {"plan": "PlanResult", "notify": "NotifyResult"}[action]
            jsonschema.validate(response.json(), resolved(SCHEMAS[result]))
            added = set(after) - set(before)
            assert all(k.endswith("/plan.json") for k in added), added
            assert {k: v for k, v in after.items() if k in before} == before
            return
        assert_typed_error(response)
        jsonschema.validate(response.json(), resolved(SCHEMAS["Error"]))
        assert after == before, set(after) ^ set(before)

    check()
    figures["bad_input"] = {
        "fuzzed_requests": sum(tried.values()),
        "statuses": tried,
        "server_errors": sum(v for k, v in tried.items() if k.startswith("5")),
    }


@pytest.mark.parametrize("action", ["renderChunk", "assemble"])
def test_a_plan_uri_naming_a_json_object_that_is_not_a_plan_is_a_typed_4xx(
    stack: RelStack, real_uris: list[str], action: str
) -> None:
    name = {"renderChunk": "RenderChunkRequest", "assemble": "AssembleRequest"}[action]
    body = {**example(name, stack.bucket), "planUri": real_uris[1]}  # request.json: not a plan
    before = stack.objects()
    assert_typed_error(post(stack, body))
    assert stack.objects() == before


EDGE_BODIES = {
    "nested 40 deep": (b'{"Action": "plan", "config": ' + b"[" * 40 + b"]" * 40 + b"}", 400),
    "nested 100000 deep": (b"[" * 100_000 + b"]" * 100_000, 400),
    "over the 1 MiB cap": (b'{"Action": "plan", "x": "' + b"x" * 2**21 + b'"}', 413),
    "NaN": (b'{"Action": "renderChunk", "chunkIndex": NaN}', 400),
    "Infinity": (b'{"Action": "renderChunk", "chunkIndex": Infinity}', 400),
    "not UTF-8": (b'{"Action": "\xff\xfe"}', 400),
    "UTF-16": ('{"Action": "plan"}'.encode("utf-16"), 400),
    "Action is an object": (b'{"Action": {"plan": 1}}', 400),
    "Action is a list": (b'{"Action": ["plan"]}', 400),
    "empty": (b"", 400),
    "a JSON array": (b'[{"Action": "plan"}]', 400),
    "a JSON string": (b'"plan"', 400),
    "truncated": (b'{"Action": "pl', 400),
}


@pytest.mark.parametrize("case", list(EDGE_BODIES))
def test_awkward_bodies_get_the_typed_error_they_deserve(stack: RelStack, case: str) -> None:
    data, status = EDGE_BODIES[case]
    before = stack.objects()
    error = assert_typed_error(post(stack, data=data), status)
    assert error["code"] == ("REQUEST_TOO_LARGE" if status == 413 else "INVALID_REQUEST")
    assert stack.objects() == before


def test_a_huge_body_without_a_token_is_refused_before_it_is_read(stack: RelStack) -> None:
    before = stack.objects()
    try:
        response = post(stack, data=b"x" * 2**21, token=None)
    except requests.ConnectionError:  # answered and closed before the client sent it all
        response = None
    if response is not None:
        assert assert_typed_error(response, 401)["code"] == "UNAUTHENTICATED"
    assert stack.objects() == before


def test_a_plan_over_the_chunk_cap_is_refused_by_the_service(
    stack: RelStack, real_uris: list[str]
) -> None:
    body = {
        **example("PlanRequest", stack.bucket),
        "renderId": "too-many-chunks",
        "siteUri": real_uris[0],
        "config": {"duration": 3600, "fps": 30, "chunkSize": 1},  # 108000 chunks
    }
    before = stack.objects()
    response = post(stack, body, timeout_s=120)
    after = stack.objects()
    assert assert_typed_error(response, 400)["code"] == "INVALID_CONFIG"
    assert after == before
