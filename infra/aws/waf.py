"""The aws target's web ACL: AWS WAF in front of the load balancer, limiting requests per IP.

A REGIONAL web ACL associated with the ALB, allowing by default, with a rate-based rule that
answers 429 (JSON, with Retry-After) to a client IP over `rateLimitPerMinute`, and optionally
AWS's managed common rule set (`managedRules`).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.aws.options import child
from infra.settings import Settings

# The rule counts each client IP's requests over the last 60 s (WAF allows 60, 120, 300 or 600),
# so its Limit is the per-minute figure as is. WAF checks the counts every few seconds and
# enforces near, not exactly at, the limit (WAF developer guide, "Rate-based rule caveats").
EVALUATION_WINDOW_SECONDS = 60
RATE_LIMITED_STATUS = 429
RATE_LIMITED_BODY_KEY = "rate-limited"
# The app's own error body shape (DESIGN.md: 4xx JSON `{"success": false, "error": ...}`).
RATE_LIMITED_BODY = json.dumps(
    {"success": False, "error": "rate limit exceeded: too many requests from this address"}
)
RATE_LIMIT_PRIORITY = 0
MANAGED_RULES_PRIORITY = 1
MANAGED_RULE_GROUP = "AWSManagedRulesCommonRuleSet"
# The common rule set blocks request bodies over 8 KB (SizeRestrictions_BODY); a model's input
# is often larger, and the app limits bodies itself (MAX_CONTENT_LENGTH). Counted, not blocked.
MANAGED_RULES_COUNTED = ("SizeRestrictions_BODY",)


def _visibility(metric: str) -> dict[str, object]:
    return {
        "cloudwatch_metrics_enabled": True,
        "metric_name": metric,
        "sampled_requests_enabled": True,
    }


def web_acl(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    lb: aws.lb.LoadBalancer,
) -> tuple[aws.wafv2.WebAcl, aws.wafv2.WebAclAssociation]:
    """The web ACL with its rules, and its association with the load balancer."""
    edge = settings.edge
    rules = []
    if edge.rate_limit_per_minute:
        rules.append(
            aws.wafv2.WebAclRuleArgs(
                name="rate-limit-per-ip",
                priority=RATE_LIMIT_PRIORITY,
                action=aws.wafv2.WebAclRuleActionArgs(
                    block=aws.wafv2.WebAclRuleActionBlockArgs(
                        custom_response=aws.wafv2.WebAclRuleActionBlockCustomResponseArgs(
                            response_code=RATE_LIMITED_STATUS,
                            custom_response_body_key=RATE_LIMITED_BODY_KEY,
                            response_headers=[
                                aws.wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArgs(
                                    name="Retry-After", value=str(EVALUATION_WINDOW_SECONDS)
                                )
                            ],
                        )
                    )
                ),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                        limit=edge.rate_limit_per_minute,
                        evaluation_window_sec=EVALUATION_WINDOW_SECONDS,
                        # The ALB hands WAF the client's own address (no proxy in front).
                        aggregate_key_type="IP",
                    )
                ),
                visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(
                    **_visibility("rate-limit-per-ip")
                ),
            )
        )
    if edge.managed_rules:
        rules.append(
            aws.wafv2.WebAclRuleArgs(
                name=MANAGED_RULE_GROUP,
                priority=MANAGED_RULES_PRIORITY,
                # The group's own block actions apply (a rule group takes an override action).
                override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                    none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
                ),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                        vendor_name="AWS",
                        name=MANAGED_RULE_GROUP,
                        rule_action_overrides=[
                            aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                                name=rule,
                                action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                                    count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                                ),
                            )
                            for rule in MANAGED_RULES_COUNTED
                        ],
                    )
                ),
                visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(
                    **_visibility(MANAGED_RULE_GROUP)
                ),
            )
        )
    acl = aws.wafv2.WebAcl(
        f"{name}-waf",
        # WAFv2's EntityDescription allows letters, digits, spaces and +=:#@/-,. only.
        description="echo-service: per-IP rate limit on the endpoint load balancer",
        scope="REGIONAL",
        default_action=aws.wafv2.WebAclDefaultActionArgs(
            allow=aws.wafv2.WebAclDefaultActionAllowArgs()
        ),
        custom_response_bodies=[
            aws.wafv2.WebAclCustomResponseBodyArgs(
                key=RATE_LIMITED_BODY_KEY,
                content=RATE_LIMITED_BODY,
                content_type="APPLICATION_JSON",
            )
        ]
        if edge.rate_limit_per_minute
        else None,
        rules=rules,
        visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(**_visibility(f"{name}-waf")),
        opts=child(parent, provider),
    )
    association = aws.wafv2.WebAclAssociation(
        f"{name}-waf",
        resource_arn=lb.arn,
        web_acl_arn=acl.arn,
        opts=child(parent, provider),
    )
    return acl, association
