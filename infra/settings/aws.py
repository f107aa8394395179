"""The aws target's settings: Fargate task sizes, the network keys, the certificate's
region and the `aws:` provider settings."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi

from infra.settings.core import DEFAULTS, _Problems

# Fargate task sizes: CPU units -> allowed memory in MiB. Source: AWS ECS developer guide,
# "Task CPU and memory" (Linux containers; 8 and 16 vCPU need platform version 1.4.0).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# Environment variables the AWS provider reads the region from.
AWS_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")

# The `aws:` settings the default AWS provider would honour (pulumi-aws 7's provider config,
# pulumi_aws/config/vars.py), by how their values are read. The program's explicit provider gets
# each one that is set, so a profile, an assumed role or an account allow-list in the stack
# config applies to every resource, as it would without the explicit provider. `region` is read
# above (it is required); `defaultTags` is merged with the project's labels.
AWS_PROVIDER_STRINGS = (
    "profile", "stsRegion", "customCaBundle", "ec2MetadataServiceEndpoint",
    "ec2MetadataServiceEndpointMode", "httpProxy", "httpsProxy", "noProxy", "retryMode",
    "s3UsEast1RegionalEndpoint", "tagPolicyCompliance",
)  # fmt: skip
AWS_PROVIDER_SECRETS = ("accessKey", "secretKey", "token")
AWS_PROVIDER_BOOLEANS = (
    "insecure", "s3UsePathStyle", "skipCredentialsValidation", "skipMetadataApiCheck",
    "skipRegionValidation", "skipRequestingAccountId", "useDualstackEndpoint", "useFipsEndpoint",
)  # fmt: skip
AWS_PROVIDER_INTEGERS = ("maxRetries", "tokenBucketRateLimiterCapacity")
AWS_PROVIDER_STRING_LISTS = (
    "allowedAccountIds", "forbiddenAccountIds", "sharedConfigFiles", "sharedCredentialsFiles",
    "userAgents",
)  # fmt: skip
# Objects (or lists of objects), by the pulumi_aws Args class their fields must fit.
AWS_PROVIDER_OBJECTS = {
    "assumeRoleWithWebIdentity": "ProviderAssumeRoleWithWebIdentityArgs",
    "ignoreTags": "ProviderIgnoreTagsArgs",
}
AWS_PROVIDER_OBJECT_LISTS = {
    "assumeRoles": "ProviderAssumeRoleArgs",
    "endpoints": "ProviderEndpointArgs",
}


def _validate_fargate(problems: _Problems, k: Callable[[str], str], cpu: int, memory: int) -> None:
    if cpu not in FARGATE_SIZES:
        problems.add(
            k("cpu"),
            cpu,
            "must be a Fargate task size in CPU units: " + ", ".join(map(str, FARGATE_SIZES)),
        )
    elif memory not in FARGATE_SIZES[cpu]:
        sizes = FARGATE_SIZES[cpu]
        if len(sizes) <= 4:
            allowed = ", ".join(map(str, sizes))
        else:
            allowed = f"{sizes[0]} to {sizes[-1]} in steps of {sizes[1] - sizes[0]}"
        problems.add(k("memory"), memory, f"with cpu {cpu} Fargate allows {allowed} MiB")


def _validate_network(
    problems: _Problems, k: Callable[[str], str], vpc_id: str, subnet_ids: tuple[str, ...]
) -> None:
    if vpc_id and not vpc_id.startswith("vpc-"):
        problems.add(k("vpcId"), vpc_id, "must be a VPC id (vpc-...) or empty for a new VPC")
    bad = [s for s in subnet_ids if not s.startswith("subnet-")]
    if bad:
        problems.add(
            k("subnetIds"), list(subnet_ids), f"must be subnet ids (subnet-...); not {bad}"
        )
    elif vpc_id and len(set(subnet_ids)) < 2:
        problems.add(
            k("subnetIds"),
            list(subnet_ids),
            "must list at least two public subnets of vpcId in different availability zones "
            "(an Application Load Balancer needs two)",
        )
    elif subnet_ids and not vpc_id:
        problems.add(k("vpcId"), vpc_id, "must be set when subnetIds is set")


def _arn_region(arn: str) -> str:
    """The region of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`), or ""."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _aws_args(problems: _Problems, key: str, value: Any, class_name: str) -> Any:
    """One provider object (`{roleArn: ...}`) as its pulumi_aws Args class; None if it fits not."""
    import pulumi_aws  # only the aws target needs it

    args_class = getattr(pulumi_aws, class_name)
    if not isinstance(value, dict):
        problems.add(key, value, "must be an object, as in the AWS provider's documentation")
        return None
    try:
        return args_class(**{_snake(name): item for name, item in value.items()})
    except TypeError:
        fields = [n for n in inspect.signature(args_class.__init__).parameters if n != "__self__"]
        problems.add(
            key, value, "has a field the AWS provider does not know; fields: " + ", ".join(fields)
        )
        return None


def _aws_provider_settings(problems: _Problems) -> tuple[dict[str, Any], dict[str, str]]:
    """The stack's `aws:` settings as keyword arguments for the explicit `aws.Provider`."""
    config = pulumi.Config("aws")
    found: dict[str, Any] = {}

    def key(name: str) -> str:
        return f"aws:{name}"

    def json_value(name: str) -> Any:
        raw = config.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            problems.add(key(name), raw, "must be JSON or YAML structured config")
            return None

    for name in AWS_PROVIDER_STRINGS:
        value = (config.get(name) or "").strip()
        if value:
            found[_snake(name)] = value
    for name in AWS_PROVIDER_SECRETS:
        if config.get(name) is not None:
            found[_snake(name)] = config.get_secret(name)
    for name in AWS_PROVIDER_BOOLEANS:
        raw = (config.get(name) or "").strip().lower()
        if raw in ("true", "false"):
            found[_snake(name)] = raw == "true"
        elif raw:
            problems.add(key(name), raw, "must be true or false")
    for name in AWS_PROVIDER_INTEGERS:
        raw = (config.get(name) or "").strip()
        if raw.isdigit():
            found[_snake(name)] = int(raw)
        elif raw:
            problems.add(key(name), raw, "must be a whole number")
    for name in AWS_PROVIDER_STRING_LISTS:
        value = json_value(name)
        if value is None:
            continue
        if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            # Account ids written unquoted in YAML arrive as numbers.
            found[_snake(name)] = [str(v) for v in value]
        else:
            problems.add(key(name), value, 'must be a list of strings, e.g. ["123456789012"]')
    for name, class_name in AWS_PROVIDER_OBJECTS.items():
        value = json_value(name)
        if value is not None:
            args = _aws_args(problems, key(name), value, class_name)
            if args is not None:
                found[_snake(name)] = args
    for name, class_name in AWS_PROVIDER_OBJECT_LISTS.items():
        value = json_value(name)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.add(key(name), value, "must be a list of objects")
            continue
        items = [
            _aws_args(problems, f"{key(name)}[{i}]", v, class_name) for i, v in enumerate(value)
        ]
        if all(item is not None for item in items):
            found[_snake(name)] = items
    if config.get("assumeRole") is not None:
        # pulumi-aws 7 reads only the list form; the singular key would be ignored silently.
        problems.add(
            "aws:assumeRole",
            config.get("assumeRole"),
            "is not read by pulumi-aws 7: use aws:assumeRoles, a list of {roleArn: ...}",
        )

    default_tags: dict[str, str] = {}
    value = json_value("defaultTags")
    if value is not None:
        tags = value.get("tags") if isinstance(value, dict) else None
        if isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values()):
            default_tags = dict(tags)
        else:
            problems.add("aws:defaultTags", value, 'must be {tags: {NAME: "VALUE", ...}}')
    return found, default_tags


# --- Rollouts (issue 19) ------------------------------------------------------------------------

ROLLOUT_STRATEGIES = ("rolling", "canary", "linear")
# ECS's own limits, botocore's ecs model (CanaryConfiguration, LinearConfiguration): canaryPercent
# 0.1-100 and stepPercent 3-100 (multiples of 0.1; whole percents here), bake times 0-1440 min.
# The defaults when rolloutPercent is 0: ECS's own (canary 5%, linear 10% a step).
CANARY_PERCENT_RANGE = (1, 100)
LINEAR_PERCENT_RANGE = (3, 100)
DEFAULT_ROLLOUT_PERCENT = {"canary": 5, "linear": 10}
MAX_BAKE_MINUTES = 1440
# A deployment alarm fires after 3 breaching minutes (infra/aws/alarms.py, DATAPOINTS_TO_ALARM;
# a test keeps the two equal): a shorter bake would move on before an alarm could say no.
MIN_BAKE_MINUTES = 3
# The whole rollout's bake time, all steps together, at most a day: `pulumi up` waits for it.
MAX_TOTAL_BAKE_MINUTES = 1440


def rollout_bake_total(strategy: str, percent: int, bake_minutes: int) -> int:
    """Minutes a rollout spends baking: each step's bake, and the last one before the old stops.

    canary: the canary's bake, then (all traffic on the new version) the deployment's bake.
    linear: a bake after every step but the one that reaches 100% (ECS API reference,
    LinearConfiguration.stepBakeTimeInMinutes), then the deployment's bake.
    """
    if strategy == "canary":
        return 2 * bake_minutes
    if strategy == "linear":
        steps = -(-100 // percent)
        return steps * bake_minutes
    return 0


def _rollout(read: Any, problems: _Problems, cloud: str, observability: Any) -> Any:
    """`rollout`, `rolloutPercent`, `rolloutBakeMinutes`: validated, as a `Rollout`."""
    from infra.settings.core import Rollout

    k = read.key
    strategy = read.string("rollout")
    percent = read.integer("rolloutPercent")
    bake = read.integer("rolloutBakeMinutes")
    if strategy not in ROLLOUT_STRATEGIES:
        problems.add(k("rollout"), strategy, "must be one of " + ", ".join(ROLLOUT_STRATEGIES))
        return Rollout()
    if strategy == "rolling":
        # Compared with the defaults: a run loads Pulumi.yaml's defaults as values.
        for name, value in (("rolloutPercent", percent), ("rolloutBakeMinutes", bake)):
            if value != DEFAULTS[name]:
                problems.add(k(name), value, "is read only with rollout canary or linear")
        return Rollout()
    if cloud != "aws":
        problems.add(
            k("rollout"),
            strategy,
            f"is not available on {cloud} yet: only aws shifts traffic in steps (ECS's native "
            "canary and linear deployments); leave rollout at rolling",
        )
        return Rollout()
    low, high = CANARY_PERCENT_RANGE if strategy == "canary" else LINEAR_PERCENT_RANGE
    what = (
        "share of traffic the new version gets first"
        if strategy == "canary"
        else ("share of traffic each step moves")
    )
    if percent == 0:
        percent = DEFAULT_ROLLOUT_PERCENT[strategy]
    elif not low <= percent <= high:
        problems.add(
            k("rolloutPercent"),
            percent,
            f"with rollout {strategy}: the {what}, a whole percent from {low} to {high} "
            f"(0: ECS's default, {DEFAULT_ROLLOUT_PERCENT[strategy]})",
        )
        percent = DEFAULT_ROLLOUT_PERCENT[strategy]
    if not MIN_BAKE_MINUTES <= bake <= MAX_BAKE_MINUTES:
        problems.add(
            k("rolloutBakeMinutes"),
            bake,
            f"must be from {MIN_BAKE_MINUTES} to {MAX_BAKE_MINUTES} minutes (a deployment "
            f"alarm needs {MIN_BAKE_MINUTES} breaching minutes to fire; ECS bakes at most a day)",
        )
    elif rollout_bake_total(strategy, percent, bake) > MAX_TOTAL_BAKE_MINUTES:
        problems.add(
            k("rolloutBakeMinutes"),
            bake,
            f"with rollout {strategy} at {percent}%: the steps would bake "
            f"{rollout_bake_total(strategy, percent, bake)} minutes in all, and `pulumi up` "
            f"waits for them; at most {MAX_TOTAL_BAKE_MINUTES} (fewer steps or a shorter bake)",
        )
    if not observability.monitoring:
        problems.add(
            k("rollout"),
            strategy,
            "needs monitoring = true: the 5xx and p99 alarms decide each step; without them a "
            "canary only delays the rollout",
        )
    elif not observability.rollback_on_alarm:
        problems.add(
            k("rollout"),
            strategy,
            "needs rollbackOnAlarm = true: with it false no alarm can stop a step",
        )
    if observability.requests_per_replica:
        # After every other deploy all traffic flows through the alternate target group, while
        # ALBRequestCountPerTarget tracks one target group (its resource label): it would see
        # no requests and scale in to minReplicas under load.
        problems.add(
            k("requestsPerReplica"),
            observability.requests_per_replica,
            f"cannot be used with rollout {strategy}: ECS moves the traffic to the other target "
            "group every other deploy, and request-count scaling follows one target group "
            "(it would scale in under load); use rollout rolling, or requestsPerReplica 0 "
            "(CPU scaling)",
        )
    return Rollout(strategy, percent, bake)
