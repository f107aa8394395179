"""The explicit AWS provider honours the stack's `aws:` settings as the default provider would."""

from __future__ import annotations

import inspect
import json

import pulumi
import pulumi_aws
import pytest

from infra import settings as settings_module
from tests.harness import run_stack

PROVIDER = "pulumi:providers:aws"


def provider_inputs(overrides: dict) -> dict:
    return run_stack("dev", overrides).one(PROVIDER).inputs


def test_profile_assumed_roles_and_account_lists_land_on_the_provider():
    inputs = provider_inputs(
        {
            "aws:profile": "prod-deployer",
            "aws:assumeRoles": [
                {"roleArn": "arn:aws:iam::210987654321:role/deploy", "sessionName": "pulumi"}
            ],
            "aws:allowedAccountIds": ["210987654321"],
            "aws:forbiddenAccountIds": ["111111111111"],
            "aws:sharedConfigFiles": ["/home/me/.aws/config"],
            "aws:sharedCredentialsFiles": ["/home/me/.aws/credentials"],
            "aws:skipMetadataApiCheck": True,
            "aws:maxRetries": 5,
        }
    )
    assert inputs["profile"] == "prod-deployer"
    assert json.loads(inputs["assumeRoles"]) == [
        {"roleArn": "arn:aws:iam::210987654321:role/deploy", "sessionName": "pulumi"}
    ]
    assert json.loads(inputs["allowedAccountIds"]) == ["210987654321"]
    assert json.loads(inputs["forbiddenAccountIds"]) == ["111111111111"]
    assert json.loads(inputs["sharedConfigFiles"]) == ["/home/me/.aws/config"]
    assert json.loads(inputs["sharedCredentialsFiles"]) == ["/home/me/.aws/credentials"]
    assert inputs["skipMetadataApiCheck"] in (True, "true")
    assert inputs["maxRetries"] in (5, "5")


def test_without_aws_settings_the_provider_gets_only_the_region_and_the_tags():
    inputs = provider_inputs({})
    assert set(inputs) - {"version", "skipCredentialsValidation", "skipRegionValidation"} == {
        "region",
        "defaultTags",
    }


def test_the_stacks_own_default_tags_are_kept_under_the_projects_labels():
    inputs = provider_inputs({"aws:defaultTags": {"tags": {"team": "ml", "stack": "mine"}}})
    assert json.loads(inputs["defaultTags"])["tags"] == {
        "team": "ml",
        "project": "echo-service",
        "stack": "dev",
        "managed-by": "pulumi",
    }


def test_every_setting_of_the_aws_provider_is_passed_on_or_handled():
    # pulumi_aws/config/vars.py lists what the default provider reads from `aws:` config.
    readable = {
        name
        for name, member in vars(pulumi_aws.config.vars._ExportableConfig).items()
        if isinstance(member, property)
    }
    handled = {
        settings_module._snake(name)
        for name in (
            *settings_module.AWS_PROVIDER_STRINGS,
            *settings_module.AWS_PROVIDER_SECRETS,
            *settings_module.AWS_PROVIDER_BOOLEANS,
            *settings_module.AWS_PROVIDER_INTEGERS,
            *settings_module.AWS_PROVIDER_STRING_LISTS,
            *settings_module.AWS_PROVIDER_OBJECTS,
            *settings_module.AWS_PROVIDER_OBJECT_LISTS,
        )
    } | {"region", "default_tags"}
    assert readable == handled
    provider_args = set(inspect.signature(pulumi_aws.Provider._internal_init).parameters)
    assert handled <= provider_args


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"aws:assumeRoles": [{"roleArnn": "arn:aws:iam::1:role/x"}]}, "aws:assumeRoles[0]"),
        ({"aws:assumeRoles": {"roleArn": "x"}}, "must be a list of objects"),
        ({"aws:allowedAccountIds": "123"}, "aws:allowedAccountIds"),
        ({"aws:skipMetadataApiCheck": "yes"}, "must be true or false"),
        ({"aws:assumeRole": {"roleArn": "x"}}, "use aws:assumeRoles"),
    ],
)
def test_bad_aws_settings_are_refused_before_any_resource(overrides, expected):
    with pytest.raises(pulumi.RunError) as caught:
        run_stack("dev", overrides)
    assert expected in str(caught.value)


def test_keys_and_secrets_in_the_aws_config_reach_the_provider():
    inputs = provider_inputs({"aws:accessKey": "AKIAEXAMPLE", "aws:secretKey": "s3cr3t"})
    assert inputs["accessKey"] == "AKIAEXAMPLE" or "AKIAEXAMPLE" in str(inputs["accessKey"])
    assert "secretKey" in inputs
