"""Issue 13: the public edge's keys: HTTPS on a domain, its DNS zone, API keys, rate limits."""

from __future__ import annotations

import json
import re

import pulumi

from infra.settings.core import EdgeSettings, _Problems, _Reader

# --- The public edge: HTTPS on a domain, API keys, rate limits ------------------------------------
# A host name: dot-separated DNS labels (letters, digits, inner hyphens), at least two, 253
# characters at most, lower case (ACM and Google-managed certificates name it so), no wildcard:
# one certificate for one endpoint. Source: RFC 1123 section 2.1, RFC 1035 section 2.3.4.
_DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_PATTERN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})+$")
DOMAIN_MAX_LENGTH = 253
# Route 53 hosted zone ids: upper-case letters and digits, e.g. Z0123456789ABCDEFGHIJ.
ROUTE53_ZONE_ID_PATTERN = re.compile(r"^Z[A-Z0-9]{1,31}$")
# Cloud DNS managed zone names: 1-63 of [a-z0-9-], starting with a letter.
DNS_ZONE_PATTERN = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
# API keys travel in `Authorization: Bearer <key>` and in API_KEYS as a comma-separated list, so a
# key is printable ASCII without whitespace or commas. 16 characters at least: a key is a
# password that no rate limit would protect for long if it were short. `openssl rand -hex 32`
# makes a good one.
API_KEY_PATTERN = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")
API_KEY_MIN_LENGTH = 16
# AWS WAF's rate-based rule: Limit at least 10 per evaluation window, at most 2,000,000,000; the
# window is 60, 120, 300 or 600 s. Sources: botocore's wafv2 model (RateBasedStatement.Limit,
# min 10) and the WAF developer guide, "Rate-based rule high-level settings". The program uses
# the 60 s window, so requests per minute is the rule's Limit as is.
RATE_LIMIT_MIN_PER_MINUTE = 10
# Cloud Armor's throttle rule counts 1 to 1,000,000 requests per interval (the program uses 60 s).
# Source: Cloud Armor docs, "Rate limiting overview".
CLOUD_ARMOR_MAX_PER_MINUTE = 1_000_000
# Google-managed certificates (GKE's ManagedCertificate) take domain names of at most 63
# characters. Source: the ManagedCertificate CRD (GoogleCloudPlatform/gke-managed-certs).
MANAGED_CERT_MAX_DOMAIN = 63
# ACM: "The first domain name you enter cannot exceed 64 octets, including periods" (it becomes
# the certificate's subject CN). Source: ACM API reference, RequestCertificate.DomainName.
ACM_MAX_DOMAIN = 64
# The top-level domain (the last label) starts with a letter: no public one starts with a digit
# (RFC 3696 section 2), and GKE's ManagedCertificate CRD refuses it (its domains' pattern ends
# in `[a-z][-a-z0-9]*[a-z0-9]`, so two characters at least). Source: the CRD,
# GoogleCloudPlatform/gke-managed-certs deploy/managedcertificates-crd.yaml.
TOP_LEVEL_DOMAIN_PATTERN = re.compile(r"^[a-z][-a-z0-9]*[a-z0-9]$")
RATE_LIMIT_MAX_PER_MINUTE = 2_000_000_000


def _edge(config: pulumi.Config, read: _Reader, problems: _Problems, cloud: str) -> EdgeSettings:
    """Reads and checks the public edge's keys: domain, zones, API keys, rate limits."""
    k = read.key
    domain = read.string("domain").lower().rstrip(".")
    route53_zone_id = read.string("route53ZoneId")
    dns_zone = read.string("dnsZone")
    rate_limit = read.integer("rateLimitPerMinute")
    managed_rules = read.boolean("managedRules")

    if domain and (len(domain) > DOMAIN_MAX_LENGTH or not DOMAIN_PATTERN.match(domain)):
        problems.add(
            k("domain"),
            domain,
            "must be a host name such as model.example.com (letters, digits and hyphens in "
            "dot-separated labels, no wildcard, no scheme or path), or empty",
        )
    elif domain and not TOP_LEVEL_DOMAIN_PATTERN.match(domain.rsplit(".", 1)[-1]):
        problems.add(
            k("domain"),
            domain,
            f"its top-level domain ({domain.rsplit('.', 1)[-1]!r}) must start with a letter and "
            "have two characters at least (no public top-level domain is otherwise; GKE's "
            "ManagedCertificate refuses it)",
        )
    if cloud == "aws" and domain and len(domain) > ACM_MAX_DOMAIN:
        problems.add(
            k("domain"),
            domain,
            f"must be at most {ACM_MAX_DOMAIN} characters on aws (ACM refuses a certificate "
            f"whose first domain name is longer); this one has {len(domain)}",
        )
    if route53_zone_id and not ROUTE53_ZONE_ID_PATTERN.match(route53_zone_id):
        problems.add(
            k("route53ZoneId"), route53_zone_id, "must be a Route 53 hosted zone id (Z...)"
        )
    if dns_zone and not DNS_ZONE_PATTERN.match(dns_zone):
        problems.add(
            k("dnsZone"),
            dns_zone,
            "must be a Cloud DNS managed zone's name (not its DNS name), e.g. example-com",
        )
    for key, value in (("route53ZoneId", route53_zone_id), ("dnsZone", dns_zone)):
        if value and not domain:
            problems.add(k(key), value, f"needs {k('domain')}: the zone is where it goes")
    if rate_limit and not (RATE_LIMIT_MIN_PER_MINUTE <= rate_limit <= RATE_LIMIT_MAX_PER_MINUTE):
        problems.add(
            k("rateLimitPerMinute"),
            rate_limit,
            f"must be 0 (no limit) or from {RATE_LIMIT_MIN_PER_MINUTE} (AWS WAF's lowest "
            f"rate-based limit) to {RATE_LIMIT_MAX_PER_MINUTE:,} requests per minute per client IP",
        )
    if cloud == "gcp":
        if rate_limit and not domain:
            problems.add(
                k("rateLimitPerMinute"),
                rate_limit,
                f"needs {k('domain')} on gcp: Cloud Armor limits requests at the HTTPS load "
                "balancer that the domain brings (the default L4 load balancer has none)",
            )
        if rate_limit > CLOUD_ARMOR_MAX_PER_MINUTE:
            problems.add(
                k("rateLimitPerMinute"),
                rate_limit,
                f"must be at most {CLOUD_ARMOR_MAX_PER_MINUTE:,} on gcp (Cloud Armor's largest "
                "throttle count)",
            )
        if managed_rules:
            problems.add(k("managedRules"), managed_rules, "is for aws stacks only (AWS WAF)")
        if domain and len(domain) > MANAGED_CERT_MAX_DOMAIN:
            problems.add(
                k("domain"),
                domain,
                f"must be at most {MANAGED_CERT_MAX_DOMAIN} characters on gcp (a Google-managed "
                "certificate's limit for a domain name)",
            )

    raw_keys = config.get("apiKeys")
    keys, encrypted = _api_keys(k("apiKeys"), "" if raw_keys is None else raw_keys, problems)
    read_secret = None
    if keys and not encrypted:
        if not pulumi.runtime.is_config_secret(k("apiKeys")):
            pulumi.log.warn(
                f"{k('apiKeys')} is stored in plain text in the stack's file; set it with "
                f"`pulumi config set --secret apiKeys 'KEY1,KEY2'` so it is encrypted"
            )

        # Read as a secret, so every resource input and output it reaches is a secret too.
        def read_secret() -> pulumi.Output[str]:
            return config.require_secret("apiKeys").apply(lambda v: ",".join(_split_keys(v)))

    return EdgeSettings(
        domain=domain,
        route53_zone_id=route53_zone_id,
        dns_zone=dns_zone,
        read_api_keys=read_secret,
        api_key_count=len(keys),
        api_keys_encrypted=encrypted,
        rate_limit_per_minute=rate_limit,
        managed_rules=managed_rules,
    )


def _split_keys(raw: str) -> list[str]:
    """`KEY1,KEY2` or `["KEY1", "KEY2"]` -> the keys, stripped (empty ones kept, to refuse)."""
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            return [str(v).strip() for v in value]
    return [part.strip() for part in text.split(",")]


def _api_keys(key: str, raw: str, problems: _Problems) -> tuple[list[str], bool]:
    """The keys and whether they are still encrypted; problems never show a key's value."""
    text = raw.strip()
    if not text:
        return [], False
    if text.startswith("{"):
        # Read from a stack file without the CLI (the estimate): `{"secure": "v1:..."}`.
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and "secure" in value:
            return [], True
    keys = _split_keys(text)
    for index, api_key in enumerate(keys, start=1):
        where = f"{key} = [secret]: key {index} of {len(keys)}"
        if not api_key:
            problems.messages.append(
                f"{where} is empty; give one or more keys separated by commas, e.g. "
                f'`pulumi config set --secret apiKeys "$(openssl rand -hex 32)"`'
            )
        elif not API_KEY_PATTERN.match(api_key):
            problems.messages.append(
                f"{where} holds whitespace, a comma or a non-ASCII character; keys are printable "
                "ASCII without spaces or commas (they travel in an HTTP header)"
            )
        elif len(api_key) < API_KEY_MIN_LENGTH:
            problems.messages.append(
                f"{where} has {len(api_key)} characters; at least {API_KEY_MIN_LENGTH} "
                "(`openssl rand -hex 32` makes a good one)"
            )
    return keys, False
