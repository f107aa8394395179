"""Keys the program refuses whatever their value: unknown ones (a typo) and, on the local
stack, the ones that shape a cloud's load balancer."""

from __future__ import annotations

import difflib

import pulumi

from infra.settings.core import DEFAULTS, _Problems, _Reader


def _configured_keys(namespace: str) -> list[str]:
    """Every key set in `namespace`, by name, from wherever the SDK reads config."""
    keys = set(pulumi.runtime.config.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())
    prefix = f"{namespace}:"
    return sorted(key[len(prefix) :] for key in keys if key.startswith(prefix))


def _refuse_unknown_keys(problems: _Problems, namespace: str) -> None:
    """A key of the project's namespace that the program does not read is a typo: say so."""
    for name in _configured_keys(namespace):
        if name in DEFAULTS:
            continue
        close = difflib.get_close_matches(name, list(DEFAULTS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        key = f"{namespace}:{name}"
        # A secret set under a misspelt key is still a secret: never echo it.
        secret = key in pulumi.runtime.config.get_config_secret_keys_env() or (
            pulumi.runtime.config.is_config_secret(key)
        )
        problems.add(
            key,
            "[secret]" if secret else pulumi.runtime.config.get_config(key),
            f"is not a setting of this project; {hint}"
            f"(`pulumi config rm {namespace}:{name}`; the settings are listed in Pulumi.yaml)",
        )


# Keys that shape a cloud's load balancer; the local stack has none (one container on 127.0.0.1),
# so setting one there would promise HTTPS, a rate limit or request scaling it never gets.
CLOUD_ONLY_KEYS = (
    "domain",
    "route53ZoneId",
    "dnsZone",
    "rateLimitPerMinute",
    "managedRules",
    "requestsPerReplica",
)


def _refuse_cloud_only_keys(read: _Reader, problems: _Problems) -> None:
    for name in CLOUD_ONLY_KEYS:
        raw = read._raw(name)
        if raw is not None and raw not in ("", "0", "false"):
            problems.add(
                read.key(name),
                raw,
                "applies to the aws and gcp stacks only: the local stack is one container on "
                "127.0.0.1, with no load balancer to put it on",
            )
