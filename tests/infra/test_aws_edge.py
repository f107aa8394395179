"""The aws public edge: HTTPS on a domain, API keys from Secrets Manager, the WAF rate limit.

Rendered with the shipped `dev` stack plus the edge keys, and without them (nothing changes).
AWS requests are checked against botocore's models; no API key may appear outside a secret.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from tests.harness import Rendered, Res, plain, run_stack
from tests.infra import fakes
from tests.infra.botocore_shapes import assert_valid, problems, service_model

KEY_A = "alpha-key-0123456789abcdef"
KEY_B = "bravo-key-fedcba9876543210"
DOMAIN = "model.example.com"
ZONE = fakes.ROUTE53_ZONES["example.com"]

CERT = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
LISTENER = "aws:lb/listener:Listener"
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
LB = "aws:lb/loadBalancer:LoadBalancer"
EDGE_TYPES = {CERT, VALIDATION, RECORD, SECRET, VERSION, ROLE_POLICY, WEB_ACL, ASSOCIATION}


def render(**overrides: Any) -> Rendered:
    return run_stack("dev", overrides)


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def container(r: Rendered) -> dict[str, Any]:
    (only,) = json.loads(r.one(TASK).inputs["containerDefinitions"])
    return only


def listeners(r: Rendered) -> dict[str, Res]:
    return {res.name.rsplit("-", 1)[1]: res for res in r.of_type(LISTENER)}


def plaintext_leaks(value: Any, needles: tuple[str, ...], path: str = "$") -> list[str]:
    """Where a needle shows outside a secret wrapper (inside one, the engine encrypts it)."""
    if is_secret(value):
        return []
    if isinstance(value, dict):
        return [
            leak for k, v in value.items() for leak in plaintext_leaks(v, needles, f"{path}.{k}")
        ]
    if isinstance(value, (list, tuple)):
        return [
            leak
            for i, v in enumerate(value)
            for leak in plaintext_leaks(v, needles, f"{path}[{i}]")
        ]
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return [path for needle in needles if needle in text]


def everywhere(r: Rendered) -> list[str]:
    found = []
    for res in r.resources:
        found += plaintext_leaks(res.inputs, (KEY_A, KEY_B), f"{res.type} {res.name} inputs")
        found += plaintext_leaks(res.outputs, (KEY_A, KEY_B), f"{res.type} {res.name} outputs")
    for key, value in r.outputs.items():
        if key not in r.secret_outputs:
            found += plaintext_leaks(value, (KEY_A, KEY_B), f"output {key}")
    return found


@pytest.fixture(autouse=True)
def _fresh_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fakes, "ROUTE53_ZONES", dict(fakes.ROUTE53_ZONES))
    monkeypatch.setattr(fakes, "ACM_ISSUED", set())
    monkeypatch.setattr(fakes, "INVOKE_ERRORS", {})


# --- off by default ---------------------------------------------------------------------------


def test_without_the_keys_the_stack_has_no_edge_resources_and_stays_plain_http():
    r = render()
    assert not (r.types() & EDGE_TYPES)
    assert [res.inputs["protocol"] for res in r.of_type(LISTENER)] == ["HTTP"]
    assert "secrets" not in container(r)
    assert r.outputs["url"].startswith("http://") and "dnsRecords" not in r.outputs
    assert {c.token for c in r.calls}.isdisjoint(fakes.AWS_EDGE_CALLS)


# --- HTTPS on a domain in Route 53 ------------------------------------------------------------


def test_domain_in_route53_gets_a_validated_certificate_https_redirect_and_alias():
    r = render(domain=DOMAIN)
    cert = r.one(CERT)
    assert cert.inputs == {"domainName": DOMAIN, "validationMethod": "DNS"}
    assert_valid("acm", "RequestCertificate", {"DomainName": DOMAIN, "ValidationMethod": "DNS"})
    assert not cert.retain_on_delete and not cert.protect

    records = {res.name: res for res in r.of_type(RECORD)}
    validation_record = records["echo-service-cert-validation"]
    option = cert.outputs["domainValidationOptions"][0]
    assert plain(validation_record.inputs) == {
        "zoneId": ZONE,
        "name": option["resourceRecordName"],
        "type": "CNAME",
        "records": [option["resourceRecordValue"]],
        "ttl": 300,
        "allowOverwrite": True,
    }
    alias = records["echo-service-alias"]
    lb = r.one(LB)
    assert alias.inputs["type"] == "A" and alias.inputs["name"] == DOMAIN
    assert alias.inputs["aliases"] == [
        {
            "name": lb.outputs["dnsName"],
            "zoneId": lb.outputs["zoneId"],
            "evaluateTargetHealth": True,
        }
    ]
    for record in (validation_record, alias):
        rrset = {"Name": record.inputs["name"], "Type": record.inputs["type"]}
        if "aliases" in record.inputs:
            (target,) = record.inputs["aliases"]
            rrset["AliasTarget"] = {"HostedZoneId": target["zoneId"], "DNSName": target["name"],
                                    "EvaluateTargetHealth": target["evaluateTargetHealth"]}  # fmt: skip
        else:
            rrset["TTL"] = int(record.inputs["ttl"])
            rrset["ResourceRecords"] = [{"Value": v} for v in record.inputs["records"]]
        assert_valid("route53", "ChangeResourceRecordSets", {
            "HostedZoneId": record.inputs["zoneId"],
            "ChangeBatch": {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]},
        })  # fmt: skip

    validation = r.one(VALIDATION)
    assert validation.inputs["certificateArn"] == cert.outputs["arn"]
    assert validation.inputs["validationRecordFqdns"] == [validation_record.outputs["fqdn"]]
    assert validation.custom_timeouts == {"create": "30m"}

    by_port = listeners(r)
    https, http = by_port["https"], by_port["http"]
    assert https.inputs["certificateArn"] == cert.outputs["arn"]
    assert https.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert validation.urn in https.dependencies
    assert http.inputs["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    for listener in (https, http):
        request = {
            "LoadBalancerArn": listener.inputs["loadBalancerArn"],
            "Protocol": listener.inputs["protocol"],
            "Port": int(listener.inputs["port"]),
            "DefaultActions": [{"Type": a["type"]} for a in listener.inputs["defaultActions"]],
        }
        if "certificateArn" in listener.inputs:
            request["Certificates"] = [{"CertificateArn": listener.inputs["certificateArn"]}]
            request["SslPolicy"] = listener.inputs["sslPolicy"]
        assert_valid("elbv2", "CreateListener", request)
    assert r.outputs["url"] == f"https://{DOMAIN}"


def test_the_alias_record_takes_over_an_existing_record_of_the_domain():
    # terraform-provider-aws, internal/service/route53/record.go: without allow_overwrite the
    # record is created with ChangeResourceRecordSets' CREATE, which Route 53 refuses when the
    # name already has an A record; with it, UPSERT. The validation record does the same.
    r = render(domain=DOMAIN)
    records = {res.name: res for res in r.of_type(RECORD)}
    assert records["echo-service-alias"].inputs["allowOverwrite"] is True
    assert records["echo-service-cert-validation"].inputs["allowOverwrite"] is True


def test_the_zone_is_found_from_the_closest_parent_name():
    fakes.ROUTE53_ZONES["model.example.com"] = "Z0DELEGATED99999"
    r = render(domain="api.model.example.com")
    asked = [c.args["name"] for c in r.calls if c.token == "aws:route53/getZone:getZone"]
    assert asked == ["api.model.example.com", "model.example.com"]
    assert {res.inputs["zoneId"] for res in r.of_type(RECORD)} == {"Z0DELEGATED99999"}


def test_a_configured_zone_id_is_used_without_looking_it_up():
    r = render(domain=DOMAIN, route53ZoneId="Z0GIVEN000000001")
    assert not [c for c in r.calls if c.token == "aws:route53/getZone:getZone"]
    assert {res.inputs["zoneId"] for res in r.of_type(RECORD)} == {"Z0GIVEN000000001"}


# --- only "not found" is not found (issue 17, item 7) -----------------------------------------
GET_ZONE = "aws:route53/getZone:getZone"
GET_CERTIFICATE = "aws:acm/getCertificate:getCertificate"
# Errors a look-up meets that are not answers, in the provider's words ("reading ...: <SDK>").
NOT_ANSWERS = {
    "access denied": "reading Route 53 Hosted Zones: operation error Route 53: ListHostedZones, "
    "https response error StatusCode: 403, RequestID: 1f1c, api error AccessDenied: User: "
    "arn:aws:iam::123456789012:user/tester is not authorized to perform: route53:ListHostedZones",
    "throttled": "reading Route 53 Hosted Zones: operation error Route 53: ListHostedZones, "
    "exceeded maximum number of attempts, 25, https response error StatusCode: 400, "
    "RequestID: 2e2d, api error Throttling: Rate exceeded",
}


@pytest.mark.parametrize("kind", sorted(NOT_ANSWERS))
def test_a_zone_look_up_that_fails_stops_the_program_instead_of_dropping_the_alias(kind: str):
    # Taken for "no zone", it would switch the stack to the manual path: its alias record and
    # validation record deleted by this very `pulumi up`.
    fakes.INVOKE_ERRORS[GET_ZONE] = NOT_ANSWERS[kind]
    message = refusal(domain=DOMAIN)
    assert f"Looking up the Route 53 hosted zone {DOMAIN} (for domain {DOMAIN}) failed" in message
    assert NOT_ANSWERS[kind] in message and "route53ZoneId" in message


def test_two_public_zones_of_one_name_ask_for_route53_zone_id():
    fakes.INVOKE_ERRORS[GET_ZONE] = (
        "multiple Route 53 Hosted Zones matched; use additional constraints to reduce matches "
        "to a single Route 53 Hosted Zone"
    )
    message = refusal(domain=DOMAIN)
    assert f"More than one public Route 53 hosted zone is named {DOMAIN}" in message
    assert "echo-service:route53ZoneId" in message


def test_no_zone_of_any_parent_name_is_the_manual_path_and_no_error():
    fakes.ROUTE53_ZONES.clear()
    r = render(domain=DOMAIN)
    asked = [c.args["name"] for c in r.calls if c.token == GET_ZONE]
    assert asked == [DOMAIN, "example.com"]
    assert not r.of_type(RECORD) and "dnsRecords" in r.outputs


@pytest.mark.parametrize("kind", ["access denied", "throttled"])
def test_a_certificate_look_up_that_fails_stops_the_program_instead_of_dropping_https(kind: str):
    # Taken for "not issued", it would remove the HTTPS listener of a stack that serves HTTPS.
    fakes.ACM_ISSUED.add("model.elsewhere.org")
    error = NOT_ANSWERS[kind].replace("Route 53 Hosted Zones", "ACM Certificates")
    fakes.INVOKE_ERRORS[GET_CERTIFICATE] = error.replace("Route 53: ListHostedZones",
                                                         "ACM: ListCertificates")  # fmt: skip
    message = refusal(domain="model.elsewhere.org")
    assert "Looking up this stack's ACM certificate for model.elsewhere.org failed" in message
    assert "ACM: ListCertificates" in message and "acm:ListCertificates" in message


def test_several_issued_certificates_of_the_stack_count_as_issued():
    # The provider's answer when more than one certificate has the domain and the stack's tags:
    # every one of them is ISSUED (the look-up asks for ISSUED only).
    fakes.INVOKE_ERRORS[GET_CERTIFICATE] = "multiple ACM Certificates matching input criteria"
    r = render(domain="model.elsewhere.org")
    assert listeners(r)["https"].inputs["certificateArn"] == r.one(CERT).outputs["arn"]
    assert r.outputs["url"] == "https://model.elsewhere.org"


# --- HTTPS on a domain elsewhere: first up tells, a later up turns HTTPS on -------------------


def test_a_domain_outside_route53_gets_a_certificate_and_the_records_to_add_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
):
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    r = render(domain="model.elsewhere.org")
    asked = [c.args["name"] for c in r.calls if c.token == "aws:route53/getZone:getZone"]
    assert asked == ["model.elsewhere.org", "elsewhere.org"]
    assert r.of_type(CERT) and not r.of_type(RECORD)
    # No CertificateValidation: it would poll ACM until its timeout while nobody can act.
    assert not r.of_type(VALIDATION)
    assert [res.inputs["protocol"] for res in r.of_type(LISTENER)] == ["HTTP"]
    assert listeners(r)["http"].inputs["defaultActions"][0]["type"] == "forward"
    lb = r.one(LB).outputs["dnsName"]
    assert r.outputs["url"] == f"http://{lb}"
    option = r.one(CERT).outputs["domainValidationOptions"][0]
    names = [(d["name"], d["type"], d["value"]) for d in r.outputs["dnsRecords"]]
    assert names == [
        (option["resourceRecordName"], "CNAME", option["resourceRecordValue"]),
        ("model.elsewhere.org.", "CNAME", lb),
    ]
    (told,) = [w for w in warnings if "model.elsewhere.org" in w]
    assert option["resourceRecordName"] in told and lb in told and "pulumi up" in told


def test_once_acm_has_issued_the_certificate_the_next_up_turns_https_on():
    fakes.ACM_ISSUED.add("model.elsewhere.org")
    r = render(domain="model.elsewhere.org")
    (lookup,) = [c for c in r.calls if c.token == "aws:acm/getCertificate:getCertificate"]
    assert lookup.args["statuses"] == ["ISSUED"]
    assert lookup.args["tags"] == {
        "project": "echo-service",
        "stack": "dev",
        "managed-by": "pulumi",
    }
    validation = r.one(VALIDATION)
    assert "validationRecordFqdns" not in validation.inputs
    assert listeners(r)["https"].inputs["certificateArn"] == r.one(CERT).outputs["arn"]
    assert listeners(r)["http"].inputs["defaultActions"][0]["type"] == "redirect"
    assert r.outputs["url"] == "https://model.elsewhere.org"
    assert "dnsRecords" in r.outputs


def test_certificate_arn_with_a_domain_uses_that_certificate_and_no_acm_request():
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    r = render(domain=DOMAIN, certificateArn=arn)
    assert not r.of_type(CERT)
    assert listeners(r)["https"].inputs["certificateArn"] == arn
    assert r.outputs["url"] == f"https://{DOMAIN}"


# --- API keys ----------------------------------------------------------------------------------


def test_api_keys_reach_the_container_from_secrets_manager_and_nowhere_in_plaintext():
    r = render(apiKeys=f"{KEY_A}, {KEY_B}", domain=DOMAIN, rateLimitPerMinute=100)
    secret, version = r.one(SECRET), r.one(VERSION)
    assert secret.inputs["recoveryWindowInDays"] == 0
    assert is_secret(version.inputs["secretString"])
    assert version.inputs["secretString"]["value"] == f"{KEY_A},{KEY_B}"
    assert version.inputs["secretId"] == secret.outputs["id"]
    assert_valid("secretsmanager", "CreateSecret", {
        "Name": secret.outputs["name"], "Description": secret.inputs["description"]})  # fmt: skip
    assert_valid("secretsmanager", "PutSecretValue", {
        "SecretId": version.inputs["secretId"], "SecretString": "x"})  # fmt: skip

    value_from = f"{secret.outputs['arn']}:::{version.outputs['versionId']}"
    assert container(r)["secrets"] == [{"name": "API_KEYS", "valueFrom": value_from}]
    assert "API_KEYS" not in {e["name"] for e in container(r)["environment"]}
    assert not problems(service_model("ecs").shape_for("ContainerDefinition"), container(r))

    policy = r.one(ROLE_POLICY)
    execution = next(res for res in r.of_type("aws:iam/role:Role") if "execution" in res.name)
    assert policy.inputs["role"] == execution.outputs["id"]
    statement = {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": secret.outputs["arn"],
    }
    assert json.loads(policy.inputs["policy"])["Statement"] == [statement]
    assert policy.urn in r.one(TASK).dependencies

    assert everywhere(r) == []
    assert r.secret_outputs == set()


def test_the_leak_check_finds_a_key_outside_a_secret():
    fake = Rendered([Res("t", "n", "u", {"env": f"API_KEYS={KEY_A}"}, {})], [], {})
    assert everywhere(fake) == ["t n inputs.env"]


# --- the WAF rate limit ------------------------------------------------------------------------


def _api(value: Any) -> Any:
    """Pulumi's camelCase WAF inputs as the WAFv2 API's PascalCase request."""
    if isinstance(value, list):
        return [_api(v) for v in value]
    if not isinstance(value, dict):
        return plain(value)
    out = {}
    for key, item in value.items():
        name = key[0].upper() + key[1:]
        name = name.replace("Cloudwatch", "CloudWatch")
        out[name] = _api(item)
    return out


def test_rate_limit_puts_a_web_acl_with_a_per_ip_rule_answering_429_on_the_load_balancer():
    r = render(rateLimitPerMinute=120, managedRules=True)
    acl = r.one(WEB_ACL)
    rate, managed = acl.inputs["rules"]
    statement = rate["statement"]["rateBasedStatement"]
    assert plain(statement) == {"limit": 120, "evaluationWindowSec": 60, "aggregateKeyType": "IP"}
    response = rate["action"]["block"]["customResponse"]
    assert plain(response["responseCode"]) == 429
    assert response["customResponseBodyKey"] == "rate-limited"
    (body,) = acl.inputs["customResponseBodies"]
    assert json.loads(body["content"])["success"] is False
    assert managed["statement"]["managedRuleGroupStatement"]["name"] == (
        "AWSManagedRulesCommonRuleSet"
    )
    association = r.one(ASSOCIATION)
    assert association.inputs["resourceArn"] == r.one(LB).outputs["arn"]
    assert association.inputs["webAclArn"] == acl.outputs["arn"]

    request = _api({k: v for k, v in acl.inputs.items() if k != "customResponseBodies"})
    request["CustomResponseBodies"] = {
        b["key"]: {"ContentType": b["contentType"], "Content": b["content"]}
        for b in acl.inputs["customResponseBodies"]
    }
    request["Name"] = acl.outputs["name"]
    assert_valid("wafv2", "CreateWebACL", request)
    assert_valid("wafv2", "AssociateWebACL", {
        "WebACLArn": acl.outputs["arn"], "ResourceArn": association.inputs["resourceArn"]})  # fmt: skip


def test_rate_limit_alone_needs_no_domain_and_no_managed_rules():
    r = render(rateLimitPerMinute=10)
    (rule,) = r.one(WEB_ACL).inputs["rules"]
    assert rule["name"] == "rate-limit-per-ip"


# --- refusals ----------------------------------------------------------------------------------


def refusal(**overrides: Any) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        render(**overrides)
    return str(caught.value)


@pytest.mark.parametrize("domain", ["https://model.example.com", "localhost", "*.example.com",
                                    "model_example.com", "-bad.example.com"])  # fmt: skip
def test_a_domain_that_is_not_a_host_name_is_refused(domain: str):
    assert "echo-service:domain" in refusal(domain=domain)


def test_keys_that_are_empty_short_or_hold_spaces_are_refused_without_showing_them():
    message = refusal(apiKeys=f"{KEY_A},,short,with space key-0123456789")
    assert "echo-service:apiKeys" in message
    assert "key 2 of 4 is empty" in message
    assert "key 3 of 4 has 5 characters" in message
    assert "key 4 of 4 holds whitespace" in message
    assert not re.search(f"{KEY_A}|short|with space", message)


@pytest.mark.parametrize("limit", [1, 9, 2_000_000_001])
def test_a_rate_limit_outside_wafs_range_is_refused(limit: int):
    message = refusal(rateLimitPerMinute=limit)
    assert f"echo-service:rateLimitPerMinute = {limit}" in message and "10" in message


def test_a_zone_id_without_a_domain_is_refused():
    assert "needs echo-service:domain" in refusal(route53ZoneId="Z0GIVEN000000001")


def test_a_preview_with_every_edge_key_renders():
    r = run_stack(
        "dev",
        {"domain": "model.elsewhere.org", "apiKeys": KEY_A, "rateLimitPerMinute": 100,
         "managedRules": True},
        preview=True,
    )  # fmt: skip
    assert r.of_type(CERT) and r.of_type(WEB_ACL) and r.of_type(SECRET)


@pytest.mark.parametrize("in_route53", [True, False])
def test_a_domain_opens_https_on_the_load_balancers_security_group(in_route53: bool):
    # The HTTP listener redirects to 443: without this rule every client would time out there.
    if not in_route53:
        fakes.ROUTE53_ZONES.clear()
    r = render(domain=DOMAIN)
    alb_sg = next(
        res
        for res in r.of_type("aws:ec2/securityGroup:SecurityGroup")
        if res.name.endswith("alb-sg")
    )
    ingress = [
        res.inputs["fromPort"]
        for res in r.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if res.inputs["securityGroupId"] == alb_sg.outputs["id"]
    ]
    assert sorted(int(p) for p in ingress) == [80, 443]
