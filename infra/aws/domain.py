"""The aws target's domain: an ACM certificate for `domain`, its DNS validation, the alias record.

Two ways, chosen by where the domain's DNS lives:

- In Route 53 (the zone given as `route53ZoneId`, or found from the domain's parent names):
  the program writes the validation record, waits for ACM with `aws.acm.CertificateValidation`
  (it polls ACM until the certificate is ISSUED, usually a few minutes with Route 53), then the
  HTTPS listener uses it and an alias A record points the domain at the load balancer. One
  `pulumi up`.
- Anywhere else: the program requests the certificate and prints (and exports as `dnsRecords`)
  the two records the user adds at their DNS host. It does NOT register a CertificateValidation
  then: that resource only polls ACM until the certificate is ISSUED, for up to its create
  timeout (75 minutes by default: terraform-provider-aws, internal/service/acm/
  certificate_validation.go, `Create: schema.DefaultTimeout(75 * time.Minute)`; its delete is a
  no-op), while nobody can add the record yet, and would then fail the update. Instead each
  `pulumi up` asks ACM whether this stack's certificate for the domain (found by the stack's
  tags) has been ISSUED: until it has, the
  load balancer keeps serving plain HTTP and `url` stays `http://<load balancer>`; the first
  `pulumi up` after the record validated adds the HTTPS listener and the redirect, and `url`
  becomes `https://<domain>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.options import child
from infra.settings import Settings

# Seconds resolvers may cache the validation record; short, so a mistake is fixed quickly.
VALIDATION_RECORD_TTL = 300
# How long a CertificateValidation may wait. With Route 53 the record exists before the wait
# starts and ACM usually issues within minutes; in the other path the program registers the
# wait only once ACM reports the domain's certificate as ISSUED. Either way it should not take
# long, and a stuck wait fails after this instead of the provider's 75 minutes.
VALIDATION_TIMEOUT = "30m"
# ACM statuses a usable certificate has. Source: ACM API, CertificateStatus.
ISSUED = "ISSUED"


@dataclass(frozen=True)
class Domain:
    """What the rest of the target needs from the domain.

    Attributes:
        certificate: The ACM certificate requested for the domain.
        certificate_arn: The ARN the HTTPS listener uses, once it is usable; None while the
            certificate waits for DNS records the user adds by hand.
        zone_id: The Route 53 zone holding the domain, or "" when it is not in Route 53.
    """

    certificate: aws.acm.Certificate
    certificate_arn: pulumi.Output[str] | None
    zone_id: str


# What the data sources answer when nothing matches, and when too much does. Sources:
# terraform-provider-aws, internal/service/route53/zone_data_source.go (through
# tfresource.SingularDataSourceFindError: "no matching %s found", "multiple %ss matched; use
# additional constraints to reduce matches to a single %s") and internal/service/acm/
# certificate_data_source.go ("no ACM Certificate matching domain (%s)" without tags, "no ACM
# Certificate found matching input criteria" with them; "multiple ACM Certificates matching
# ..."). The engine passes the provider's error on as text ("invocation of <token> returned an
# error: ..."), so the text is all a program can tell them by. Anything else (AccessDenied, a
# throttle, an expired token, a network error) is not an answer: it stops the program.
ZONE_NOT_FOUND = "no matching Route 53 Hosted Zone found"
ZONE_AMBIGUOUS = "multiple Route 53 Hosted Zones matched"
CERTIFICATE_NOT_FOUND = (
    "no ACM Certificate found matching input criteria",
    "no ACM Certificate matching domain",
)
CERTIFICATE_SEVERAL = "multiple ACM Certificates matching"


def _lookup_failed(what: str, error: Exception, hint: str) -> pulumi.RunError:
    """The error that stops the program when a look-up failed for another reason than none."""
    return pulumi.RunError(
        f"Looking up {what} failed, so the program cannot tell which path the stack takes "
        f"(it stops rather than guess and remove records or listeners): {error}. {hint}"
    )


def route53_zone(
    parent: pulumi.ComponentResource, provider: aws.Provider, settings: Settings
) -> str:
    """The public Route 53 zone that holds `domain`: the configured one, or the closest parent.

    Looks the names up one by one, most specific first (`api.model.example.com`,
    `model.example.com`, `example.com`), stopping before the top-level domain. Returns "" when
    none of them is a zone in this account: only the data source's own "no matching hosted
    zone" answer counts as that. Two public zones of one name, or a failed look-up (no
    permission, throttled), raise `pulumi.RunError`: taking either for "no zone" would switch
    a stack that has an alias record to the manual path and delete the record.
    """
    edge = settings.edge
    if edge.route53_zone_id:
        return edge.route53_zone_id
    labels = edge.domain.split(".")
    for start in range(len(labels) - 1):
        name = ".".join(labels[start:])
        try:
            zone = aws.route53.get_zone(
                name=name,
                private_zone=False,
                opts=pulumi.InvokeOptions(parent=parent, provider=provider),
            )
        except Exception as error:  # sorted below: only "none" is an answer
            if ZONE_NOT_FOUND in str(error):
                continue
            if ZONE_AMBIGUOUS in str(error):
                raise pulumi.RunError(
                    f"More than one public Route 53 hosted zone is named {name}: set "
                    "echo-service:route53ZoneId to the one that holds "
                    f"{edge.domain} (`aws route53 list-hosted-zones-by-name --dns-name {name}`)."
                ) from error
            raise _lookup_failed(
                f"the Route 53 hosted zone {name} (for domain {edge.domain})",
                error,
                "The credentials need route53:ListHostedZones and route53:GetHostedZone; or "
                "set echo-service:route53ZoneId to skip the look-up.",
            ) from error
        return zone.zone_id
    return ""


def certificate_issued(
    parent: pulumi.ComponentResource, provider: aws.Provider, settings: Settings
) -> bool:
    """Whether ACM in the provider's region holds an ISSUED certificate for `domain` that this
    stack requested (found by the tags the provider puts on everything the stack makes, so a
    certificate another stack or person requested for the same name does not count).

    "None matches" is False. "Several match" is True: each of them is ISSUED, for the domain and
    with this stack's tags. Any other failure raises `pulumi.RunError`: taking it for "not
    issued" would remove the HTTPS listener of a stack that has one.
    """
    domain = settings.edge.domain
    try:
        aws.acm.get_certificate(
            domain=domain,
            statuses=[ISSUED],
            tags=settings.labels,
            most_recent=True,
            opts=pulumi.InvokeOptions(parent=parent, provider=provider),
        )
    except Exception as error:  # sorted below: only "none" is an answer
        text = str(error)
        if any(answer in text for answer in CERTIFICATE_NOT_FOUND):
            return False
        if CERTIFICATE_SEVERAL in text:
            return True
        raise _lookup_failed(
            f"this stack's ACM certificate for {domain}",
            error,
            "The credentials need acm:ListCertificates, acm:DescribeCertificate, "
            "acm:GetCertificate and acm:ListTagsForCertificate.",
        ) from error
    return True


def domain_certificate(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
) -> Domain:
    """The certificate for `domain` and, with Route 53, its validation record and wait."""
    domain = settings.edge.domain
    zone_id = route53_zone(parent, provider, settings)
    certificate = aws.acm.Certificate(
        f"{name}-cert",
        domain_name=domain,
        validation_method="DNS",
        # Pulumi replaces a certificate by creating the new one first, so the listener moves
        # to it before the old one is deleted (ACM refuses to delete a certificate in use).
        opts=child(parent, provider),
    )
    option = certificate.domain_validation_options.apply(lambda options: options[0])
    if zone_id:
        record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=zone_id,
            name=option.apply(lambda o: o.resource_record_name),
            type=option.apply(lambda o: o.resource_record_type),
            records=[option.apply(lambda o: o.resource_record_value)],
            ttl=VALIDATION_RECORD_TTL,
            # ACM's validation record is the same for every certificate of this domain in the
            # account: a record left by an earlier stack or certificate is taken over.
            allow_overwrite=True,
            opts=child(parent, provider),
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child(
                parent, provider, custom_timeouts=pulumi.CustomTimeouts(create=VALIDATION_TIMEOUT)
            ),
        )
        return Domain(certificate, validation.certificate_arn, zone_id)

    if certificate_issued(parent, provider, settings):
        # The user's records validated since the last `pulumi up`: ACM says ISSUED, so this
        # wait returns at once; it is there so the listener never gets a pending certificate.
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=certificate.arn,
            opts=child(
                parent, provider, custom_timeouts=pulumi.CustomTimeouts(create=VALIDATION_TIMEOUT)
            ),
        )
        return Domain(certificate, validation.certificate_arn, "")
    return Domain(certificate, None, "")


def alias_record(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    zone_id: str,
    lb: aws.lb.LoadBalancer,
) -> aws.route53.Record:
    """The domain's alias A record to the load balancer (the ALB is IPv4 only: no AAAA)."""
    return aws.route53.Record(
        f"{name}-alias",
        zone_id=zone_id,
        name=settings.edge.domain,
        type="A",
        aliases=[
            aws.route53.RecordAliasArgs(
                name=lb.dns_name, zone_id=lb.zone_id, evaluate_target_health=True
            )
        ],
        # The domain may already have an A record (an earlier stack's, a placeholder at the
        # registrar's import): without this the provider creates with ChangeResourceRecordSets'
        # CREATE, which Route 53 refuses for an existing name and type, and `pulumi up` fails
        # at its very end; with it the provider UPSERTs and the record is taken over (and
        # deleted by `pulumi destroy`, as every record this stack writes).
        allow_overwrite=True,
        opts=child(parent, provider),
    )


def manual_dns_records(
    certificate: aws.acm.Certificate, lb: aws.lb.LoadBalancer, settings: Settings, issued: bool
) -> pulumi.Output[list[dict[str, str]]]:
    """The records a user adds at a DNS host that is not Route 53, printed once they are known.

    Returns:
        `[{"name", "type", "value", "why"}]`: the certificate's validation CNAME and the
        domain's CNAME to the load balancer.
    """
    domain = settings.edge.domain

    option = certificate.domain_validation_options.apply(
        lambda options: (
            options[0].resource_record_name,
            options[0].resource_record_type,
            options[0].resource_record_value,
        )
    )

    def records(args: list) -> list[dict[str, str]]:
        (record_name, record_type, record_value), lb_name = args
        found = [
            {
                "name": record_name,
                "type": record_type,
                "value": record_value,
                "why": "ACM validates the certificate with it; keep it, ACM renews with it",
            },
            {
                "name": f"{domain}.",
                "type": "CNAME",
                "value": lb_name,
                "why": "points the domain at the load balancer (at a zone apex, use your DNS "
                "host's ALIAS/ANAME record)",
            },
        ]
        lines = "\n".join(f"  {r['name']}  {r['type']}  {r['value']}" for r in found)
        state = (
            "The certificate is issued and HTTPS is on; keep these records"
            if issued
            else "The certificate waits for DNS validation; the endpoint serves plain HTTP "
            "until then. Add these records, wait until `dig CNAME <name>` shows them (ACM then "
            "issues within about 30 minutes), and run `pulumi up` again to turn HTTPS on"
        )
        # A warning until HTTPS is on (the user has something to do), a note afterwards.
        say = pulumi.log.info if issued else pulumi.log.warn
        say(f"{domain} is not in a Route 53 hosted zone of this account. {state}:\n{lines}")
        return found

    return pulumi.Output.all(option, lb.dns_name).apply(records)
