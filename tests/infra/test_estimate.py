"""The cost estimate: shipped stacks priced, totals checked against arithmetic done by hand here.

Every expected figure below is written out from the published unit prices (730 hours a month),
not taken from the module, so a wrong quantity, price key or formula fails a test.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from infra import estimate as est
from infra.estimate import cli
from infra.estimate.prices import _figures
from infra.stackfiles import UnknownStackError, stack_config
from tests.harness import ROOT

ITEM_KEYS = {"name", "unit_price_usd", "quantity", "unit", "monthly_usd"}
TOP_KEYS = {"stack", "cloud", "region", "monthly_usd", "items", "notes"}

# dev: 2 x 0.25 vCPU x 730 h x $0.04048 + 2 x 0.5 GB x 730 h x $0.004445 + ALB 730 h x $0.0225
#      + 1 LCU x 730 h x $0.008 + (2 ALB zones + 2 tasks) x 730 h x $0.005 + 0.1 GB x $0.10
DEV_TOTAL = (
    2 * 0.25 * 730 * 0.04048
    + 2 * 0.5 * 730 * 0.004445
    + 730 * 0.0225
    + 730 * 0.008
    + 4 * 730 * 0.005
    + 0.1 * 0.10
)
# gcp (Autopilot): fee 730 h x $0.10 + 2 x 0.25 vCPU x 730 h x $0.0445
#      + 2 x 0.5 GiB x 730 h x $0.0049225 + forwarding rule 730 h x $0.025 + 0.1 GB x $0.10
GCP_TOTAL = (
    730 * 0.10 + 2 * 0.25 * 730 * 0.0445 + 2 * 0.5 * 730 * 0.0049225 + 730 * 0.025 + 0.1 * 0.10
)


def priced(stack: str, overrides: dict | None = None, traffic: est.Traffic | None = None):
    return est.estimate(est.load_stack_settings(stack, overrides, env={}), traffic=traffic)


def by_name(result: est.Estimate | est.Serverless) -> dict[str, est.Item]:
    return {i.name: i for i in result.items}


# --- The shipped stacks ---------------------------------------------------------------------------


def test_hand_worked_totals_are_what_the_issue_expects():
    # The arithmetic above, done once more on paper: $54.90 and $111.10 a month.
    assert round(DEV_TOTAL, 2) == 54.90
    assert round(GCP_TOTAL, 2) == 111.10


def test_dev_stack_is_priced_item_by_item_from_the_us_east_1_list_prices():
    result = priced("dev")
    assert (result.stack, result.cloud, result.region) == ("dev", "aws", "us-east-1")
    items = by_name(result)
    assert [(i.unit_price_usd, i.quantity, i.unit) for i in items.values()] == [
        (0.04048, 2 * 0.25 * 730, "vCPU-hour"),
        (0.004445, 2 * 0.5 * 730, "GB-hour"),
        (0.0225, 730, "ALB-hour"),
        (0.008, 730, "LCU-hour"),
        (0.005, 4 * 730, "address-hour"),
        (0.10, 0.1, "GB-month"),
    ]
    assert "Fargate vCPU, x86 (2 tasks x 0.25 vCPU)" in items
    assert "Public IPv4 addresses (2 ALB zones + 2 tasks)" in items
    assert result.monthly_usd == pytest.approx(DEV_TOTAL)
    assert not any("NAT gateway" in name for name in items)
    assert any("No NAT gateway" in n and "$32.85/month" in n for n in result.notes)
    assert any("CloudWatch Logs ingestion $0.50/GB" in n for n in result.notes)
    assert any("750 ALB-hours" in n and "500 MB" in n for n in result.notes)


def test_gcp_stack_is_priced_without_a_gcp_project_and_with_the_free_tier_only_noted():
    result = priced("gcp")  # Pulumi.gcp.yaml has no gcp:project and env is empty
    assert (result.cloud, result.region) == ("gcp", "us-central1")
    assert [(i.unit_price_usd, i.quantity, i.unit) for i in result.items] == [
        (0.10, 730, "cluster-hour"),
        (0.0445, 2 * 0.25 * 730, "vCPU-hour"),
        (0.0049225, 2 * 0.5 * 730, "GiB-hour"),
        (0.025, 730, "rule-hour"),
        (0.10, 0.1, "GB-month"),
    ]
    assert result.monthly_usd == pytest.approx(GCP_TOTAL)
    assert any("$74.40" in n and "not subtracted" in n for n in result.notes)
    assert any("first 0.5 GB" in n for n in result.notes)


def test_a_real_gcp_project_is_used_when_there_is_one():
    settings = est.load_stack_settings("gcp", {"gcp:project": "my-project"}, env={})
    assert settings.gcp.project == "my-project"
    settings = est.load_stack_settings("gcp", env={"GOOGLE_CLOUD_PROJECT": "from-env"})
    assert settings.gcp.project == "from-env"


def test_local_stack_costs_nothing_and_says_why():
    result = priced("local")
    assert result.items == []
    assert result.monthly_usd == 0
    assert result.region is None
    assert any("no cloud bill" in n for n in result.notes)
    assert result.as_dict()["monthly_usd"] == 0


# --- Variations of the settings -------------------------------------------------------------------


def test_arm64_on_aws_uses_the_graviton_prices_for_every_task():
    result = priced(
        "dev", {"platform": "linux/arm64", "cpu": 512, "memory": 1024, "minReplicas": 3}
    )
    # 3 x 0.5 vCPU x 730 x $0.03238 + 3 x 1 GB x 730 x $0.00356 + 730 x $0.0225 + 730 x $0.008
    # + (2 + 3) x 730 x $0.005 + 0.1 x $0.10
    expected = (
        3 * 0.5 * 730 * 0.03238
        + 3 * 1 * 730 * 0.00356
        + 730 * 0.0225
        + 730 * 0.008
        + 5 * 730 * 0.005
        + 0.1 * 0.10
    )
    assert result.monthly_usd == pytest.approx(expected)
    assert round(result.monthly_usd, 2) == 83.78
    items = by_name(result)
    assert items["Fargate vCPU, ARM/Graviton (3 tasks x 0.5 vCPU)"].unit_price_usd == 0.03238
    assert items["Fargate memory, ARM/Graviton (3 tasks x 1 GB)"].unit_price_usd == 0.00356


def test_an_existing_vpc_counts_one_alb_address_per_subnet_and_no_nat_of_ours():
    result = priced(
        "dev",
        {"vpcId": "vpc-0abc", "subnetIds": ["subnet-01", "subnet-02", "subnet-03"]},
    )
    ips = by_name(result)["Public IPv4 addresses (3 ALB zones + 2 tasks)"]
    assert ips.quantity == (3 + 2) * 730
    assert any("Existing VPC vpc-0abc" in n for n in result.notes)


def test_gke_standard_prices_the_nodes_in_every_zone_not_the_pods():
    result = priced("gcp", {"gkeMode": "standard"})
    # fee 730 x $0.10 + 3 nodes (1 per zone x 3 zones) x 730 x $0.067006 (e2-standard-2)
    # + 3 x 40 GB x $0.10 pd-balanced + 3 x 730 x $0.005 node IPv4 + 730 x $0.025 + 0.1 x $0.10
    expected = (
        730 * 0.10 + 3 * 730 * 0.067006 + 3 * 40 * 0.10 + 3 * 730 * 0.005 + 730 * 0.025 + 0.1 * 0.10
    )
    assert result.monthly_usd == pytest.approx(expected)
    assert round(result.monthly_usd, 2) == 260.95
    names = list(by_name(result))
    assert "Node VMs, e2-standard-2 (1 per zone x 3 zones)" in names
    assert not any(name.startswith("Autopilot") for name in names)
    assert any("regional" in n and "3 zones" in n for n in result.notes)
    assert any("does not apply to a regional Standard cluster" in n for n in result.notes)


def test_gke_standard_scales_with_node_count_and_machine_type():
    result = priced("gcp", {"gkeMode": "standard", "nodeCount": 2, "machineType": "e2-standard-4"})
    nodes = by_name(result)["Node VMs, e2-standard-4 (2 per zone x 3 zones)"]
    assert (nodes.unit_price_usd, nodes.quantity) == (0.134012, 6 * 730)
    assert nodes.monthly_usd == pytest.approx(6 * 730 * 0.134012)


# --- The serverless comparison --------------------------------------------------------------------


def test_lambda_break_even_is_the_container_bill_over_the_cost_of_one_request():
    traffic = est.Traffic(requests_per_month=1_000_000, ms_per_request=100, memory_mb=1024)
    s = priced("dev", traffic=traffic).serverless
    # One request: $0.20 / 1e6 + 1 GB x 0.1 s x $0.0000166667 = $0.00000186667
    per_request = 0.20 / 1e6 + 1.0 * 0.1 * 0.0000166667
    assert s.cost_per_request_usd == pytest.approx(per_request)
    assert s.monthly_usd == pytest.approx(1_000_000 * per_request)  # $1.87
    assert s.break_even_requests_per_month == math.ceil(DEV_TOTAL / per_request)
    assert 29_400_000 < s.break_even_requests_per_month < 29_420_000
    assert s.region == "us-east-1"
    assert any("function URL" in n and "+$1.00/month" in n for n in s.notes)  # API Gateway option
    assert any("1 million requests and 400,000 GB-seconds" in n for n in s.notes)


def test_lambda_uses_arm_duration_prices_when_the_stack_builds_for_arm64():
    traffic = est.Traffic(requests_per_month=2_000_000, ms_per_request=50, memory_mb=512)
    s = priced("dev", {"platform": "linux/arm64"}, traffic).serverless
    # 2e6 x ($0.20 / 1e6 + 0.5 GB x 0.05 s x $0.0000133334)
    assert s.monthly_usd == pytest.approx(2_000_000 * (0.20 / 1e6 + 0.5 * 0.05 * 0.0000133334))
    assert "arm64" in s.service


def test_cloud_run_rounds_each_request_up_to_100_ms_of_one_vcpu():
    traffic = est.Traffic(requests_per_month=3_000_000, ms_per_request=120, memory_mb=1024)
    s = priced("gcp", traffic=traffic).serverless
    # 120 ms bills as 200 ms: $0.40 / 1e6 + 1 vCPU x 0.2 s x $0.000024 + 1 GiB x 0.2 s x $0.0000025
    per_request = 0.40 / 1e6 + 1 * 0.2 * 0.000024 + 1.0 * 0.2 * 0.0000025
    assert s.cost_per_request_usd == pytest.approx(per_request)
    assert s.monthly_usd == pytest.approx(3_000_000 * per_request)  # $16.71
    assert s.break_even_requests_per_month == math.ceil(GCP_TOTAL / per_request)
    assert any("upper bound" in n for n in s.notes)
    assert any("2 million requests" in n for n in s.notes)


def test_zero_traffic_still_gives_a_break_even():
    s = priced("dev", traffic=est.Traffic(requests_per_month=0)).serverless
    assert s.monthly_usd == 0
    # 50 ms at 512 MB: $0.20 / 1e6 + 0.5 x 0.05 x $0.0000166667
    assert s.break_even_requests_per_month == math.ceil(
        DEV_TOTAL / (0.20 / 1e6 + 0.5 * 0.05 * 0.0000166667)
    )


def test_local_stack_has_no_serverless_comparison_but_says_so():
    result = priced("local", traffic=est.Traffic(requests_per_month=1000))
    assert result.serverless is None
    assert result.as_dict()["serverless"] is None
    assert any("dev (AWS) or gcp" in n for n in result.notes)


# --- What users see -------------------------------------------------------------------------------


def test_json_has_exactly_the_documented_shape():
    data = priced("dev").as_dict()
    assert set(data) == TOP_KEYS
    assert (data["stack"], data["cloud"], data["region"]) == ("dev", "aws", "us-east-1")
    assert data["monthly_usd"] == 54.90
    assert all(set(item) == ITEM_KEYS for item in data["items"])
    assert all(isinstance(n, str) for n in data["notes"])
    fargate = data["items"][0]
    assert fargate == {
        "name": "Fargate vCPU, x86 (2 tasks x 0.25 vCPU)",
        "unit_price_usd": 0.04048,
        "quantity": 365.0,
        "unit": "vCPU-hour",
        "monthly_usd": 14.78,
    }


def test_json_with_traffic_adds_only_a_serverless_object():
    data = priced("gcp", traffic=est.Traffic(1_000_000)).as_dict()
    assert set(data) == {*TOP_KEYS, "serverless"}
    assert set(data["serverless"]) == {
        "service",
        "region",
        "requests_per_month",
        "ms_per_request",
        "memory_mb",
        "monthly_usd",
        "cost_per_million_requests_usd",
        "break_even_requests_per_month",
        "items",
        "notes",
    }
    assert all(set(item) == ITEM_KEYS for item in data["serverless"]["items"])
    # 1e6 x ($0.40 / 1e6 + 0.1 s x $0.000024 + 0.5 GiB x 0.1 s x $0.0000025) = $2.925
    assert data["serverless"]["cost_per_million_requests_usd"] == pytest.approx(2.925)


def test_the_table_aligns_its_columns_and_ends_with_the_total():
    text = est.render(priced("dev"))
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Item"))
    table = lines[header : header + 10]
    assert table[1].startswith("---") and table[8].startswith("---")
    widths = {len(line) for line in table}
    assert len(widths) == 1, table  # every row ends in the same column
    assert table[9].startswith("Total per month") and table[9].endswith("$54.90")
    assert "$0.04048" in table[2] and "365" in table[2] and "$14.78" in table[2]
    assert "Notes:" in lines


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m infra.estimate ARGS` from the project root, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "infra.estimate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_prints_json_for_the_dev_stack_from_the_project_root():
    done = run_cli("dev", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == TOP_KEYS
    assert data["monthly_usd"] == round(DEV_TOTAL, 2)


def test_cli_prices_the_gcp_stack_with_no_project_anywhere():
    done = run_cli("gcp", "--requests-per-month", "1e6")
    assert done.returncode == 0, done.stderr
    assert "Total per month" in done.stdout and "$111.10" in done.stdout
    assert "Break-even:" in done.stdout and "Cloud Run" in done.stdout


# --- Refusals -------------------------------------------------------------------------------------


def test_unknown_region_is_refused_plainly_never_guessed():
    settings = est.load_stack_settings("dev", {"aws:region": "ap-south-2"}, env={})
    with pytest.raises(est.EstimateError) as caught:
        est.estimate(settings)
    assert str(caught.value).startswith("no prices for aws region ap-south-2; known: us-east-1")
    settings = est.load_stack_settings("gcp", {"gcp:region": "europe-west9"}, env={})
    with pytest.raises(est.EstimateError, match="no prices for gcp region europe-west9"):
        est.estimate(settings)


def test_unknown_machine_type_is_refused_with_the_known_ones():
    settings = est.load_stack_settings(
        "gcp", {"gkeMode": "standard", "machineType": "c3-standard-4"}, env={}
    )
    with pytest.raises(
        est.EstimateError, match=r"c3-standard-4 in us-central1; known: e2-standard-2"
    ):
        est.estimate(settings)


def test_invalid_settings_give_the_programs_own_message():
    with pytest.raises(est.EstimateError, match=r"echo-service:cpu = 300: must be a Fargate"):
        est.load_stack_settings("dev", {"cpu": 300}, env={})


def test_cli_reports_invalid_settings_with_exit_2_and_no_traceback(monkeypatch, capsys):
    real = est.load_stack_settings
    monkeypatch.setattr(cli, "load_stack_settings", lambda stack: real(stack, {"cpu": 300}, env={}))
    assert est.main(["dev"]) == 2
    err = capsys.readouterr().err
    assert "echo-service:cpu = 300" in err
    assert "Traceback" not in err


def test_unknown_stack_names_the_stacks_that_exist(capsys):
    with pytest.raises(SystemExit) as caught:
        est.main(["prod"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "argument STACK: no stack file Pulumi.prod.yaml" in err
    assert "dev, gcp, local" in err
    with pytest.raises(UnknownStackError, match="the stacks here are: dev, gcp, local"):
        stack_config("../prod")
    with pytest.raises(est.EstimateError, match=r"no stack file Pulumi\.prod\.yaml"):
        est.load_stack_settings("prod")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--requests-per-month", "-5"], "argument --requests-per-month: must be a whole number"),
        (["--requests-per-month", "lots"], "argument --requests-per-month: must be a number"),
        (["--requests-per-month", "1.5"], "argument --requests-per-month: must be a whole number"),
        (["--requests-per-month", "10", "--ms-per-request", "0"], "argument --ms-per-request"),
        (["--requests-per-month", "10", "--ms-per-request", "-3"], "argument --ms-per-request"),
        (["--requests-per-month", "10", "--ms-per-request", "nan"], "argument --ms-per-request"),
        (
            ["--requests-per-month", "10", "--memory-mb", "64"],
            "argument --memory-mb: must be from 128",
        ),
        (["--requests-per-month", "10", "--memory-mb", "1.5"], "argument --memory-mb"),
        (["--ms-per-request", "20"], "argument --ms-per-request: only applies with --requests"),
    ],
)
def test_bad_traffic_figures_are_refused_naming_the_argument(args, message, capsys):
    with pytest.raises(SystemExit) as caught:
        est.main(["dev", *args])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_big_traffic_figures_are_accepted_in_plain_or_scientific_form(capsys):
    assert est.main(["dev", "--json", "--requests-per-month", "1_000_000"]) == 0
    assert json.loads(capsys.readouterr().out)["serverless"]["requests_per_month"] == 1_000_000
    assert est.main(["dev", "--json", "--requests-per-month", "2e6"]) == 0
    assert json.loads(capsys.readouterr().out)["serverless"]["requests_per_month"] == 2_000_000


# --- The price file -------------------------------------------------------------------------------


def test_every_price_says_what_it_is_where_it_comes_from_and_when():
    prices = est.load_prices()
    assert prices["hours_per_month"] == 730
    assert "us-east-1" in prices["aws"] and "us-central1" in prices["gcp"]
    for cloud in ("aws", "gcp"):
        for region, figures in prices[cloud].items():
            for key, figure in _figures(figures):
                assert figure["usd"] > 0, (cloud, region, key)
                assert figure["source"].startswith("https://"), (cloud, region, key)
                # The date each figure was looked up (figures added later carry later dates).
                assert re.search(r"\b2026-\d\d-\d\d\b", figure["as_of"]), (cloud, region, key)
                assert figure["per"], (cloud, region, key)


def test_a_price_without_its_source_is_refused(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text(
        "hours_per_month: 730\naws:\n  us-east-1:\n    alb_hour: {usd: 0.0225, per: ALB-hour}\n"
        "gcp: {}\n"
    )
    with pytest.raises(est.EstimateError, match=r"alb_hour needs .* source"):
        est.load_prices(bad)


def test_a_reader_that_stops_early_gets_no_traceback():
    """`python -m infra.estimate dev | head -3` must not end in a BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.estimate", "dev"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the program has written: its first write meets a closed pipe
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in proc.stderr.read()
    proc.stderr.close()
