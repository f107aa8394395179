"""The policy pack served as the CLI runs it, and asked over its gRPC interface.

`pulumi preview --policy-pack policy/` starts `python -m pulumi.policy ENGINE policy/` (the Python
analyzer plugin), which runs policy/__main__.py; that prints the port its analyzer listens on.
This test does the same, then asks what the CLI asks: the pack's policies, its config, and the
analysis of a resource, sent as the engine sends properties (a secret in its wrapper).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy.stack_config import policy_config

ROOT = Path(__file__).resolve().parents[2]
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


@pytest.fixture
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", str(ROOT / "policy")],
        cwd=ROOT / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.isdigit(), f"no port from the pack: {line!r} {process.stderr.read()}"
        with grpc.insecure_channel(f"127.0.0.1:{line}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def analyze(stub, type_: str, name: str, props: dict) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    request = analyzer_pb2.AnalyzeRequest(
        type=type_,
        name=name,
        urn=f"urn:pulumi:dev::echo-service::{type_}::{name}",
        properties=json_format.ParseDict(props, struct_pb2.Struct()),
    )
    return list(stub.Analyze(request).diagnostics)


def test_the_served_pack_enforces_its_rules_with_the_stacks_config(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "echo-service"
    assert {p.name for p in info.policies} == {
        "no-plaintext-secret",
        "metrics-never-public",
        "non-root-read-only",
        "least-privilege-iam",
        "tls-1-2",
        "deletion-protection",
    }
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}

    config = policy_config("dev", {"metricsPort": 9100, "deletionProtection": True})
    analyzer.Configure(
        analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(
                    enforcementLevel=analyzer_pb2.MANDATORY,
                    properties=json_format.ParseDict(values, struct_pb2.Struct()),
                )
                for name, values in config.items()
            }
        )
    )
    found = analyze(analyzer, "aws:lb/targetGroup:TargetGroup", "tg", {"port": 9100})
    assert [(d.policyName, d.enforcementLevel) for d in found] == [
        ("metrics-never-public", analyzer_pb2.MANDATORY)
    ]
    assert "tg" in found[0].message
    assert analyze(analyzer, "aws:lb/targetGroup:TargetGroup", "tg", {"port": 8080}) == []
    found = analyze(analyzer, "aws:lb/loadBalancer:LoadBalancer", "alb", {})
    assert [d.policyName for d in found] == ["deletion-protection"]

    # The local container's envs arrive as a secret (apiKeys is one): unwrapped, API_KEYS passes
    # and a token set through `env` does not.
    container = {
        "readOnly": True,
        "user": "10001:10001",
        "envs": {**SECRET_SIG, "value": ["PORT=8080", "API_KEYS=k"]},
    }
    assert analyze(analyzer, "docker:index/container:Container", "c", container) == []
    container["envs"]["value"].append("HF_TOKEN=t")
    found = analyze(analyzer, "docker:index/container:Container", "c", container)
    assert [d.policyName for d in found] == ["no-plaintext-secret"]
    assert "HF_TOKEN" in found[0].message
