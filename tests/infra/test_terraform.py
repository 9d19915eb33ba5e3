"""The Terraform module's structure, checked statically with python-hcl2.

No provider can be downloaded here, so nothing is planned or applied: every
check reads the parsed HCL. The checks are functions of a module directory, so
the tests run them on the real module (they must pass) and on mutated copies
(a widened role, an ``allUsers`` binding: they must fail).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "terraform"

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")

# Every IAM grant each service account may hold, as (granting resource type, role).
EXPECTED_SA_GRANTS = {
    "renderer": {
        ("google_storage_bucket_iam_member", "roles/storage.objectAdmin"),
        ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
    },
    "invoker": {
        ("google_cloud_run_v2_service_iam_member", "roles/run.invoker"),
        ("google_project_iam_member", "roles/logging.logWriter"),
        # child executions of the render workflow (fan-out past 20 chunks in flight)
        ("google_project_iam_member", "roles/workflows.invoker"),
    },
}

REQUIRED_APIS = {
    "run.googleapis.com",
    "workflows.googleapis.com",
    "workflowexecutions.googleapis.com",
    "storage.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "iam.googleapis.com",
}

EXPECTED_OUTPUTS = {"render_bucket_name", "service_url", "workflow_name", "region"}

IAM_TYPE = re.compile(r"_iam_(member|binding|policy)$")


# ---- parsing ---------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """python-hcl2 >= 5 keeps string quotes and adds __is_block__/__comments__; drop them."""
    if isinstance(value, dict):
        return {
            _clean(k): _clean(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__", "__start_line__", "__end_line__")
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_module(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of every .tf file in ``directory``, merged by block kind."""
    files = sorted(Path(directory).glob("*.tf"))
    assert files, f"no .tf files in {directory}"
    merged: dict[str, list[Any]] = {}
    for path in files:
        with path.open() as handle:
            parsed = _clean(hcl2.load(handle))
        for kind, blocks in parsed.items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def resources(module: dict[str, list[Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for block in module.get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                yield rtype, name, body


def resource(module: dict[str, list[Any]], rtype: str, name: str) -> dict[str, Any]:
    for t, n, body in resources(module):
        if (t, n) == (rtype, name):
            return body
    raise AssertionError(f"resource {rtype}.{name} is missing")


def only(blocks: Any, what: str) -> dict[str, Any]:
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {what} block"
    return blocks[0]


def variables(module: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    return {name: body for block in module.get("variable", []) for name, body in block.items()}


def locals_(module: dict[str, list[Any]]) -> dict[str, Any]:
    return {k: v for block in module.get("locals", []) for k, v in block.items()}


def resolve_vars(text: str, module: dict[str, list[Any]]) -> str:
    """Substitute ``${var.X}`` with X's default (for checking values built from defaults)."""
    defaults = {name: body.get("default") for name, body in variables(module).items()}

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        assert defaults.get(name) is not None, f"var.{name} has no default"
        return str(defaults[name])

    return re.sub(r"\$\{var\.([A-Za-z0-9_]+)\}", sub, text)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def _members(body: dict[str, Any]) -> list[str]:
    found = []
    if isinstance(body.get("member"), str):
        found.append(body["member"])
    if isinstance(body.get("members"), list):
        found.extend(m for m in body["members"] if isinstance(m, str))
    return found


def iam_grants(module: dict[str, list[Any]]) -> Iterator[tuple[str, str, str, str]]:
    """(resource type, resource name, role, member) for every IAM grant in the module."""
    for rtype, name, body in resources(module):
        if IAM_TYPE.search(rtype):
            role = body.get("role", "")
            for member in _members(body):
                yield rtype, name, role, member
            # *_iam_policy resources carry their bindings in policy_data (a data
            # google_iam_policy): any such policy is counted through the data blocks.
    for block in module.get("data", []):
        for dtype, named in block.items():
            if dtype != "google_iam_policy":
                continue
            for name, body in named.items():
                for binding in body.get("binding", []):
                    for member in _members(binding):
                        yield "google_iam_policy", name, binding.get("role", ""), member


# ---- the checks (each takes a module directory, raises AssertionError) -----------------


def check_no_public_members(directory: Path) -> None:
    """No allUsers/allAuthenticatedUsers in any resource, data source, local, output or default.

    Variable validation blocks are not scanned: ``caller_members`` names the two
    public principals there precisely to refuse them.
    """
    module = load_module(directory)
    scanned: list[tuple[str, Any]] = [
        ("resource", module.get("resource", [])),
        ("data", module.get("data", [])),
        ("locals", module.get("locals", [])),
        ("output", module.get("output", [])),
    ]
    scanned += [(f"var.{n}.default", b.get("default")) for n, b in variables(module).items()]
    for where, value in scanned:
        for text in strings(value):
            for public in PUBLIC_MEMBERS:
                assert public not in text, f"{public} appears in {where}: {text!r}"


def check_service_account_roles(directory: Path) -> None:
    """Each service account holds exactly the expected grants, at the expected scope."""
    module = load_module(directory)
    accounts = {name for t, name, _ in resources(module) if t == "google_service_account"}
    assert accounts == set(EXPECTED_SA_GRANTS), f"service accounts: {sorted(accounts)}"
    for account, expected in EXPECTED_SA_GRANTS.items():
        ref = f"google_service_account.{account}."
        held = {(rtype, role) for rtype, _, role, member in iam_grants(module) if ref in member}
        assert held == expected, (
            f"service account {account!r} holds {sorted(held)}, expected exactly {sorted(expected)}"
        )
    # The scoped grants point at this module's own bucket, service and secret.
    objects = resource(module, "google_storage_bucket_iam_member", "renderer_objects")
    assert objects["bucket"] == "${google_storage_bucket.renders.name}"
    run = resource(module, "google_cloud_run_v2_service_iam_member", "invoker_run")
    assert run["name"] == "${google_cloud_run_v2_service.renderer.name}"
    secret = resource(module, "google_secret_manager_secret_iam_member", "renderer_webhook")
    assert secret["secret_id"] == "${google_secret_manager_secret.webhook[0].secret_id}"


def check_outputs(directory: Path) -> None:
    module = load_module(directory)
    names = {name for block in module.get("output", []) for name in block}
    assert names == EXPECTED_OUTPUTS, f"outputs are {sorted(names)}"
    for block in module.get("output", []):
        for name, body in block.items():
            assert body.get("description"), f"output {name} has no description"


def check_variables(directory: Path) -> None:
    module = load_module(directory)
    declared = variables(module)
    required = {
        "project_id", "region", "name_prefix", "image", "cpu", "memory",
        "max_instance_count", "request_timeout_seconds", "chunk_retention_days",
        "bucket_force_destroy", "runaway_request_threshold", "notification_channels",
        "caller_members", "webhook_secret", "min_instances",
    }  # fmt: skip
    assert required <= set(declared), f"missing variables: {sorted(required - set(declared))}"
    for name, body in declared.items():
        assert isinstance(body.get("description"), str) and body["description"].strip(), (
            f"variable {name} has no description"
        )
        assert body.get("type"), f"variable {name} has no type"
    defaults = {n: b.get("default") for n, b in declared.items()}
    assert defaults["region"] == "us-central1"
    assert defaults["cpu"] == "4"
    assert defaults["memory"] == "8Gi"
    assert defaults["request_timeout_seconds"] == 3600
    assert defaults["chunk_retention_days"] == 7
    assert defaults["bucket_force_destroy"] is False
    assert defaults["notification_channels"] == []
    assert defaults["webhook_secret"] == ""
    # Scale to zero unless asked: a warm instance is billed while idle.
    assert defaults["min_instances"] == 0
    (rule,) = declared["min_instances"]["validation"]
    assert "var.min_instances >= 0" in rule["condition"]
    assert declared["webhook_secret"].get("sensitive") is True


def check_apis(directory: Path) -> None:
    module = load_module(directory)
    body = resource(module, "google_project_service", "apis")
    assert body["for_each"] == "${local.apis}"
    enabled = set(re.findall(r'"([a-z]+\.googleapis\.com)"', locals_(module)["apis"]))
    assert enabled >= REQUIRED_APIS, f"APIs not enabled: {sorted(REQUIRED_APIS - enabled)}"


def lifecycle_deletes(rule: dict[str, Any], key: str) -> bool:
    """GCS semantics: conditions are ANDed; entries of one list are ORed."""
    cond = only(rule["condition"], "lifecycle condition")
    prefixes = cond.get("matches_prefix")
    suffixes = cond.get("matches_suffix")
    if isinstance(suffixes, str) and suffixes.startswith("${local."):
        raise AssertionError(f"unresolved {suffixes}")
    if prefixes is not None and not any(key.startswith(p) for p in prefixes):
        return False
    return suffixes is None or any(key.endswith(s) for s in suffixes)


def check_bucket(directory: Path) -> None:
    module = load_module(directory)
    bucket = resource(module, "google_storage_bucket", "renders")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] == "${var.bucket_force_destroy}"
    assert only(bucket["versioning"], "versioning")["enabled"] is False
    rules = bucket.get("lifecycle_rule", [])
    assert len(rules) == 1, "expected one lifecycle rule (chunk cleanup)"
    rule = dict(rules[0])
    assert only(rule["action"], "action")["type"] == "Delete"
    cond = dict(only(rule["condition"], "condition"))
    assert cond["age"] == "${var.chunk_retention_days}"
    # Resolve local.chunk_suffixes, then evaluate the rule on real key shapes.
    if cond.get("matches_suffix") == "${local.chunk_suffixes}":
        cond["matches_suffix"] = locals_(module)["chunk_suffixes"]
    rule["condition"] = [cond]
    rid = "r-0123456789abcdef0123"
    for key in (f"renders/{rid}/chunks/00000.mp4", f"renders/{rid}/chunks/00417.json"):
        assert lifecycle_deletes(rule, key), f"chunk {key} is not cleaned up"
    for key in (
        f"renders/{rid}/output.mp4",  # the SDK's default output key
        f"renders/{rid}/plan.json",
        f"renders/{rid}/request.json",
        f"renders/{rid}/result.json",
        "sites/3f2a/site.tar.gz",
        "videos/intro.mp4",
        "videos/take2.mp4",
    ):
        assert not lifecycle_deletes(rule, key), f"lifecycle rule would delete {key}"


def check_cloud_run(directory: Path) -> None:
    module = load_module(directory)
    svc = resource(module, "google_cloud_run_v2_service", "renderer")
    # Workflows does not call from a VPC: internal-only ingress would refuse it.
    assert svc["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert svc["deletion_protection"] is False, "terraform destroy must be able to remove it"
    template = only(svc["template"], "template")
    assert template["execution_environment"] == "EXECUTION_ENVIRONMENT_GEN2"
    assert template["max_instance_request_concurrency"] == 1
    assert resolve_vars(template["timeout"], module) == "3600s"
    assert template["service_account"] == "${google_service_account.renderer.email}"
    scaling = only(template["scaling"], "scaling")
    assert scaling["max_instance_count"] == "${var.max_instance_count}"
    assert scaling["min_instance_count"] == "${var.min_instances}"
    (lifecycle,) = svc["lifecycle"]
    (pre,) = lifecycle["precondition"]
    assert pre["condition"] == "${var.min_instances <= var.max_instance_count}"
    container = only(template["containers"], "containers")
    assert container["image"] == "${var.image}"
    limits = only(container["resources"], "resources")["limits"]
    assert limits == {"cpu": "${var.cpu}", "memory": "${var.memory}"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FRAMERUN_RENDER_BUCKET"] == "${google_storage_bucket.renders.name}"
    assert env["FRAMERUN_AUTH_ALLOWED_INVOKERS"] == "${google_service_account.invoker.email}"
    # The container's own timeout follows the Cloud Run one (one variable for both).
    assert env["FRAMERUN_REQUEST_TIMEOUT_S"] == "${tostring(var.request_timeout_seconds)}"
    # One page per vCPU draws a chunk; the container may see the host's cores.
    assert env["FRAMERUN_CHUNK_PAGES"] == "${var.cpu}"
    # the planner refuses more chunks at once than instances
    assert env["FRAMERUN_MAX_INSTANCES"] == "${tostring(var.max_instance_count)}"
    # The audience the service accepts is the URL the workflow calls (and the output).
    workflow = resource(module, "google_workflows_workflow", "render")
    assert env["FRAMERUN_AUTH_AUDIENCES"] == workflow["user_env_vars"]["FRAMERUN_SERVICE_URL"]
    outputs = {n: b for block in module["output"] for n, b in block.items()}
    assert outputs["service_url"]["value"] == env["FRAMERUN_AUTH_AUDIENCES"]
    # The webhook secret comes from Secret Manager, never a plain value.
    secret_env = only(container["dynamic"], "dynamic env")["env"]
    content = only(secret_env["content"], "content")
    assert content["name"] == "FRAMERUN_WEBHOOK_SECRET"
    assert "value" not in content and content["value_source"]


def check_workflow(directory: Path) -> None:
    module = load_module(directory)
    wf = resource(module, "google_workflows_workflow", "render")
    assert wf["source_contents"] == '${file("${path.module}/../workflows/render.yaml")}'
    assert (Path(directory) / "../workflows/render.yaml").is_file()
    assert wf["service_account"] == "${google_service_account.invoker.id}"
    assert wf["call_log_level"] == "LOG_ERRORS_ONLY"
    assert wf["deletion_protection"] is False, "terraform destroy must be able to remove it"
    assert set(wf["user_env_vars"]) == {"FRAMERUN_SERVICE_URL"}


def check_callers(directory: Path) -> None:
    module = load_module(directory)
    execs = resource(module, "google_project_iam_member", "caller_workflows")
    assert execs["role"] == "roles/workflows.invoker"
    # The workflow starts child executions of itself past 20 chunks in flight.
    children = resource(module, "google_project_iam_member", "invoker_child_executions")
    assert children["role"] == "roles/workflows.invoker"
    assert "google_service_account.invoker.email" in children["member"]
    assert execs["for_each"] == "${toset(var.caller_members)}"
    assert execs["member"] == "${each.value}"
    objects = resource(module, "google_storage_bucket_iam_member", "caller_objects")
    assert objects["role"] == "roles/storage.objectUser"
    assert objects["bucket"] == "${google_storage_bucket.renders.name}"
    assert objects["for_each"] == "${toset(var.caller_members)}"


def check_alert(directory: Path) -> None:
    module = load_module(directory)
    policy = resource(module, "google_monitoring_alert_policy", "runaway_requests")
    cond = only(policy["conditions"], "conditions")
    threshold = only(cond["condition_threshold"], "condition_threshold")
    assert 'metric.type = \\"run.googleapis.com/request_count\\"' in threshold["filter"] or (
        'metric.type = "run.googleapis.com/request_count"' in threshold["filter"]
    )
    assert "${google_cloud_run_v2_service.renderer.name}" in threshold["filter"]
    assert threshold["threshold_value"] == "${var.runaway_request_threshold}"
    assert threshold["comparison"] == "COMPARISON_GT"
    assert policy["notification_channels"] == "${var.notification_channels}"


ALL_CHECKS = [
    check_no_public_members,
    check_service_account_roles,
    check_outputs,
    check_variables,
    check_apis,
    check_bucket,
    check_cloud_run,
    check_workflow,
    check_callers,
    check_alert,
]


# ---- the real module ---------------------------------------------------------------


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_module(check: Any) -> None:
    check(MODULE)


def test_versions() -> None:
    module = load_module(MODULE)
    terraform = only(module["terraform"], "terraform")
    assert terraform["required_version"] == ">= 1.5"
    google = only(terraform["required_providers"], "required_providers")["google"]
    assert google["source"] == "hashicorp/google"
    low = re.match(r">=\s*(\d+)", google["version"])
    assert low and int(low.group(1)) >= 5


def test_formatting() -> None:
    """`terraform fmt -check` when terraform is on PATH; otherwise every file must parse."""
    terraform = shutil.which("terraform")
    if terraform is not None:
        run = subprocess.run(
            [terraform, "fmt", "-check", "-recursive", "-diff", str(MODULE)],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as handle:
            hcl2.load(handle)


def _block(text: str, header: str) -> str:
    """The top-level block that starts with ``header`` (closed by a ``}`` at column 0)."""
    start = text.index(header)
    return text[start : text.index("\n}\n", start) + 3]


def test_min_instances_bounds_are_enforced_by_terraform(tmp_path: Path) -> None:
    """The variable's validation and the service's precondition, evaluated by terraform
    itself on a module of just those blocks (no provider to download)."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform not on PATH (the structure is checked by test_module)")
    text = (MODULE / "variables.tf").read_text()
    svc = resource(load_module(MODULE), "google_cloud_run_v2_service", "renderer")
    condition = svc["lifecycle"][0]["precondition"][0]["condition"]
    (tmp_path / "main.tf").write_text(
        _block(text, 'variable "min_instances" {')
        + _block(text, 'variable "max_instance_count" {')
        + 'resource "terraform_data" "service" {\n  lifecycle {\n    precondition {\n'
        + f'      condition     = {condition[2:-1]}\n      error_message = "too many"\n'
        + "    }\n  }\n}\n"
    )

    def plan(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [terraform, f"-chdir={tmp_path}", "plan", "-input=false", "-no-color", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    init = [terraform, f"-chdir={tmp_path}", "init", "-input=false", "-no-color"]
    assert subprocess.run(init, capture_output=True, timeout=120).returncode == 0
    assert plan().returncode == 0
    assert plan("-var", "min_instances=2").returncode == 0
    for bad in ("-1", "1.5"):
        run = plan("-var", f"min_instances={bad}")
        assert run.returncode != 0 and "min_instances must be a whole number" in run.stderr
    run = plan("-var", "min_instances=30", "-var", "max_instance_count=20")
    assert run.returncode != 0 and "too many" in run.stderr


# ---- mutated copies: the checks must catch a widened role and a public binding ------


@pytest.fixture
def module_copy(tmp_path: Path) -> Path:
    shutil.copytree(MODULE, tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform"))
    shutil.copytree(REPO / "workflows", tmp_path / "workflows")
    return tmp_path / "terraform"


def test_copy_passes_unchanged(module_copy: Path) -> None:
    for check in ALL_CHECKS:
        check(module_copy)


def test_widened_renderer_role_is_caught(module_copy: Path) -> None:
    (module_copy / "widen.tf").write_text(
        'resource "google_project_iam_member" "renderer_storage_admin" {\n'
        "  project = var.project_id\n"
        '  role    = "roles/storage.admin"\n'
        '  member  = "serviceAccount:${google_service_account.renderer.email}"\n'
        "}\n"
    )
    with pytest.raises(AssertionError, match="renderer"):
        check_service_account_roles(module_copy)


def test_same_role_at_wider_scope_is_caught(module_copy: Path) -> None:
    (module_copy / "widen.tf").write_text(
        'resource "google_project_iam_member" "invoker_all_services" {\n'
        "  project = var.project_id\n"
        '  role    = "roles/run.invoker"\n'
        '  member  = "serviceAccount:${google_service_account.invoker.email}"\n'
        "}\n"
    )
    with pytest.raises(AssertionError, match="invoker"):
        check_service_account_roles(module_copy)


def test_all_users_binding_is_caught(module_copy: Path) -> None:
    (module_copy / "public.tf").write_text(
        'resource "google_cloud_run_v2_service_iam_member" "public" {\n'
        "  project  = var.project_id\n"
        "  location = google_cloud_run_v2_service.renderer.location\n"
        "  name     = google_cloud_run_v2_service.renderer.name\n"
        '  role     = "roles/run.invoker"\n'
        '  member   = "allUsers"\n'
        "}\n"
    )
    with pytest.raises(AssertionError, match="allUsers"):
        check_no_public_members(module_copy)


def test_a_fixed_min_instance_count_is_caught(module_copy: Path) -> None:
    run_tf = module_copy / "run.tf"
    text = run_tf.read_text()
    run_tf.write_text(
        text.replace("min_instance_count = var.min_instances", "min_instance_count = 1")
    )
    with pytest.raises(AssertionError, match="min_instance"):
        check_cloud_run(module_copy)


def test_extra_output_is_caught(module_copy: Path) -> None:
    with (module_copy / "outputs.tf").open("a") as handle:
        handle.write('\noutput "bucket_url" {\n  value = google_storage_bucket.renders.url\n}\n')
    with pytest.raises(AssertionError, match="outputs"):
        check_outputs(module_copy)
