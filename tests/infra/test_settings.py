"""Settings: the shipped stacks load, every bad value is refused with a message naming it."""

from __future__ import annotations

import dataclasses

import pulumi
import pytest
import yaml

from infra import settings as settings_module
from infra.settings import DEFAULTS, Settings, host_platform, load_settings
from tests.harness import ROOT, run_stack, stack_config

GCP = {"gcp:project": "my-project"}


def load(stack: str, overrides: dict | None = None, env: dict | None = None) -> Settings:
    pulumi.runtime.set_all_config(stack_config(stack, overrides))
    return load_settings(stack=stack, env=env or {})


def refusal(stack: str, overrides: dict | None = None, env: dict | None = None) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        load(stack, overrides, env)
    return str(caught.value)


def test_dev_stack_is_aws_in_us_east_1_with_the_documented_defaults():
    s = load("dev")
    assert s.cloud == "aws"
    assert s.aws == settings_module.AwsSettings(region="us-east-1")
    assert s.gcp is None
    assert (s.cpu, s.memory, s.min_replicas, s.max_replicas) == (256, 512, 2, 4)
    assert (s.container_port, s.platform, s.deletion_protection) == (8080, "linux/amd64", False)
    assert s.labels == {"project": "echo-service", "stack": "dev", "managed-by": "pulumi"}


def test_gcp_stack_takes_the_project_from_config():
    s = load("gcp", GCP)
    assert s.cloud == "gcp"
    assert s.gcp == settings_module.GcpSettings(project="my-project", region="us-central1")


def test_gcp_stack_takes_the_project_from_the_providers_environment_variables():
    s = load("gcp", env={"GOOGLE_CLOUD_PROJECT": "from-env"})
    assert s.gcp.project == "from-env"


def test_gcp_stack_without_a_project_is_refused_with_how_to_set_it():
    message = refusal("gcp")
    assert "gcp:project" in message
    assert "pulumi config set gcp:project" in message


def test_aws_stack_without_a_region_is_refused():
    message = refusal("dev", {"aws:region": ""})
    assert "aws:region" in message and "is required" in message


def test_aws_region_may_come_from_the_environment_like_the_provider_reads_it():
    assert (
        load("dev", {"aws:region": ""}, env={"AWS_REGION": "eu-west-1"}).aws.region == "eu-west-1"
    )


def test_local_stack_builds_for_this_machine_whatever_platform_says():
    s = load(
        "local", {"platform": "linux/arm64" if host_platform() == "linux/amd64" else "linux/amd64"}
    )
    assert s.cloud == "local"
    assert s.platform == host_platform()
    assert s.aws is None and s.gcp is None


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        (
            "local",
            {"cloud": "azure"},
            "echo-service:cloud = 'azure': must be one of aws, gcp, local",
        ),
        ("dev", {"cpu": "abc"}, "echo-service:cpu = 'abc': must be a whole number"),
        ("dev", {"memory": "1.5"}, "echo-service:memory = '1.5': must be a whole number"),
        ("dev", {"cpu": 300}, "echo-service:cpu = 300: must be a Fargate task size"),
        (
            "dev",
            {"cpu": 256, "memory": 4096},
            "echo-service:memory = 4096: with cpu 256 Fargate allows 512, 1024, 2048 MiB",
        ),
        (
            "dev",
            {"cpu": 1024, "memory": 1024},
            "echo-service:memory = 1024: with cpu 1024 Fargate allows 2048 to 8192 in steps of 1024 MiB",
        ),
        ("dev", {"cpu": -1}, "echo-service:cpu = -1: must be a positive number"),
        ("dev", {"minReplicas": 0}, "echo-service:minReplicas = 0: must be from 1 to 100"),
        (
            "dev",
            {"minReplicas": 3, "maxReplicas": 2},
            "echo-service:maxReplicas = 2: must be from minReplicas (3) to 100",
        ),
        (
            "dev",
            {"containerPort": 0},
            "echo-service:containerPort = 0: must be a port from 1024 to 65535",
        ),
        (
            "dev",
            {"containerPort": 70000},
            "echo-service:containerPort = 70000: must be a port from 1024 to 65535",
        ),
        ("dev", {"containerPort": 80}, "non-root user"),
        ("local", {"localPort": 0}, "echo-service:localPort = 0: must be a port from 1 to 65535"),
        ("local", {"localPort": 65536}, "echo-service:localPort = 65536"),
        (
            "dev",
            {"logRetentionDays": 10},
            "echo-service:logRetentionDays = 10: must be one of CloudWatch's retention values: 1, 3, 5, 7, 14",
        ),
        (
            "dev",
            {"platform": "linux/386"},
            "echo-service:platform = 'linux/386': must be linux/amd64 or linux/arm64",
        ),
        ("dev", {"platform": "arm64"}, "echo-service:platform = 'arm64'"),
        (
            "dev",
            {"targetCpuPercent": 100},
            "echo-service:targetCpuPercent = 100: must be a percentage from 10 to 90",
        ),
        (
            "dev",
            {"deletionProtection": "yes"},
            "echo-service:deletionProtection = 'yes': must be true or false",
        ),
        (
            "dev",
            {"containerInsights": "1"},
            "echo-service:containerInsights = '1': must be true or false",
        ),
        ("dev", {"vpcId": "my-vpc"}, "echo-service:vpcId = 'my-vpc': must be a VPC id"),
        (
            "dev",
            {"vpcId": "vpc-0abc", "subnetIds": ["subnet-1"]},
            "must list at least two public subnets",
        ),
        (
            "dev",
            {"subnetIds": ["subnet-1", "subnet-2"]},
            "echo-service:vpcId = '': must be set when subnetIds is set",
        ),
        (
            "dev",
            {"vpcId": "vpc-0abc", "subnetIds": ["sn-1", "subnet-2"]},
            "must be subnet ids (subnet-...); not ['sn-1']",
        ),
        (
            "dev",
            {"subnetIds": "subnet-1"},
            "echo-service:subnetIds = 'subnet-1': must be a list of strings",
        ),
        (
            "dev",
            {"certificateArn": "my-cert"},
            "echo-service:certificateArn = 'my-cert': must be an ACM certificate ARN",
        ),
        (
            "gcp",
            {**GCP, "gkeMode": "serverless"},
            "echo-service:gkeMode = 'serverless': must be autopilot or standard",
        ),
        (
            "gcp",
            {**GCP, "releaseChannel": "FAST"},
            "echo-service:releaseChannel = 'FAST': must be one of RAPID, REGULAR, STABLE, EXTENDED",
        ),
        (
            "gcp",
            {**GCP, "platform": "linux/arm64"},
            "echo-service:platform = 'linux/arm64': must be linux/amd64 on gcp",
        ),
        (
            "gcp",
            {**GCP, "cpu": 100},
            "echo-service:cpu = 100: GKE Autopilot needs 250 to 30720 CPU units",
        ),
        (
            "gcp",
            {**GCP, "cpu": 256, "memory": 256},
            "echo-service:memory = 256: GKE Autopilot needs 512 to 112640 MiB",
        ),
        (
            "gcp",
            {**GCP, "cpu": 1024, "memory": 8192},
            "echo-service:memory = 8192: GKE Autopilot allows 1 to 6.5 GiB per vCPU; with cpu 1024 that is 1024 to 6656 MiB",
        ),
        (
            "gcp",
            {**GCP, "cpu": 2048, "memory": 1024},
            "echo-service:memory = 1024: GKE Autopilot allows 1 to 6.5 GiB per vCPU",
        ),
        (
            "gcp",
            {**GCP, "gkeMode": "standard", "nodeCount": 0},
            "echo-service:nodeCount = 0: must be from 1 to 100",
        ),
        (
            "gcp",
            {**GCP, "gkeMode": "standard", "nodeCount": 2, "maxNodeCount": 1},
            "echo-service:maxNodeCount = 1: must be from nodeCount (2)",
        ),
        (
            "gcp",
            {**GCP, "gkeMode": "standard", "machineType": ""},
            "echo-service:machineType = '': must name a Compute Engine machine type",
        ),
        (
            "gcp",
            {**GCP, "nodeCount": "two"},
            "echo-service:nodeCount = 'two': must be a whole number",
        ),
    ],
)
def test_each_bad_value_is_refused_with_its_key_value_and_what_is_allowed(
    stack, overrides, expected
):
    message = refusal(stack, overrides)
    assert expected in message
    assert f"Invalid configuration for stack '{stack}'" in message


def test_gke_standard_mode_does_not_apply_autopilot_sizes():
    s = load("gcp", {**GCP, "gkeMode": "standard", "cpu": 100, "memory": 128})
    assert (s.gcp.gke_mode, s.cpu, s.memory) == ("standard", 100, 128)


def test_every_problem_is_reported_at_once():
    message = refusal("dev", {"cpu": 300, "minReplicas": 0, "platform": "x"})
    assert message.count("\n  - ") == 3


def test_a_bad_value_stops_the_program_before_any_resource_is_registered():
    with pytest.raises(pulumi.RunError, match="echo-service:cloud = 'mars'"):
        run_stack("local", {"cloud": "mars"})


# --- Pulumi.yaml declares every key, with the same defaults the code applies -------------------


def project_config() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]


def test_pulumi_yaml_declares_every_key_with_type_default_and_description():
    declared = project_config()
    assert set(declared) == set(DEFAULTS)
    for key, spec in declared.items():
        assert {"type", "default", "description"} <= set(spec), key
        assert spec["default"] == DEFAULTS[key], key
        expected_type = {bool: "boolean", int: "integer", str: "string", list: "array"}
        assert spec["type"] == expected_type[type(DEFAULTS[key])], key


def test_settings_dataclass_defaults_agree_with_pulumi_yaml():
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    for key, default in DEFAULTS.items():
        name = "".join("_" + c.lower() if c.isupper() else c for c in key)
        if name in fields:
            assert fields[name] == default, key


def test_pulumi_yaml_runs_the_program_in_the_projects_virtualenv():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "echo-service"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }


@pytest.mark.parametrize("stack", ["dev", "gcp", "local"])
def test_stack_files_only_use_declared_project_keys(stack):
    values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key in values:
        namespace, _, name = key.partition(":")
        if namespace == "echo-service":
            assert name in DEFAULTS, key
        else:
            assert namespace in ("aws", "gcp"), key
