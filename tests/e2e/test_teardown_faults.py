"""Teardown in a hostile AWS: a Lambda that dies right after each of a
teardown's deletes (one run per delete), and an environment whose VPC
something foreign keeps alive. Either way the ledger is closed, and a
teardown run again (or the automatic retry) finishes and lets go of the
environment.

As in test_crashes.py, which calls a teardown makes is learnt from a
reference teardown through the emulator's call log, not written here."""

import json
import time

import pytest

from conftest import assert_crashed_once, crash_after_kth, deploy, new_app, watched_calls
from inventory import counts, inventory

# What a teardown of a default app's production changes (its log group is kept).
TEARDOWN_CALLS = 31


def tear_down(local, app: str, name: str) -> tuple[str, dict]:
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"], name=name,
        input=json.dumps({"app": app, "environment": "production", "confirm": "production"}))["executionArn"]
    return arn, local.follow(arn, timeout=300)


def assert_gone(local, app: str, teardown: str) -> None:
    """Nothing but the log group is left, the environment is DESTROYED and free."""
    left = {kind: n for kind, n in counts(inventory(local, app)).items() if n}
    assert left == {"log group": 1}, left
    assert local.item(f"ENV#{app}#production", "ENV")["status"] == "DESTROYED"
    assert "holder" not in local.item(f"ENV#{app}#production", "LOCK")
    assert local.item(f"ENV#{app}#production", f"TEARDOWN#{teardown}")["status"] == "DESTROYED"


@pytest.fixture(scope="module")
def teardown_calls(local) -> list[tuple[str, str, str]]:
    """(service, action, function) of each mutating call a teardown makes, in order."""
    local.clear_faults()
    app = new_app(local, "tdref", "10.199.0.0/16")
    _, desc = deploy(local, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")

    def run():
        _, desc = tear_down(local, app, "tdref-teardown")
        assert desc["status"] == "SUCCEEDED", desc.get("cause")

    calls = watched_calls(local, run)
    assert [c for c in calls if c[2] != "teardown"] == [], calls
    assert len(calls) == TEARDOWN_CALLS, calls
    assert_gone(local, app, "tdref-teardown")
    return calls


@pytest.mark.parametrize("k", range(1, TEARDOWN_CALLS + 1))
def test_a_crash_right_after_each_call_of_a_teardown_is_retried_and_finishes(faults, teardown_calls, k):
    app = new_app(faults, f"tdcrash{k}", f"10.{130 + k}.0.0/16")
    _, desc = deploy(faults, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    call = crash_after_kth(faults, teardown_calls, k)

    arn, desc = tear_down(faults, app, f"{app}-teardown")

    assert desc["status"] == "SUCCEEDED", (call, desc.get("cause"))
    assert_crashed_once(faults, arn, call)
    assert_gone(faults, app, f"{app}-teardown")


def test_a_teardown_kept_from_the_vpc_fails_at_its_deadline_then_a_rerun_finishes(faults):
    """A subnet stepdeploy did not create keeps the VPC alive: the network
    phase fails at the spec's teardown deadline naming the VPC, the ledger
    records the failed teardown, deploys stay refused; once it is deleted,
    the teardown run again finishes and lets go."""
    app = new_app(faults, "tdstuck", "10.176.0.0/16", {"teardown_minutes": 1})
    _, desc = deploy(faults, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    ec2 = faults.c("ec2")
    vpc = inventory(faults, app)["VPC"][0]
    foreign = ec2.create_subnet(VpcId=vpc, CidrBlock="10.176.200.0/24")["Subnet"]["SubnetId"]

    arn, desc = tear_down(faults, app, "tdstuck-first")

    assert desc["status"] == "FAILED" and desc["error"] == "StepTimedOut", desc
    assert vpc in desc["cause"] and "start the teardown again" in desc["cause"], desc["cause"]
    waited = (desc["stopDate"] - desc["startDate"]).total_seconds()
    assert 60 <= waited < 200, waited
    record = faults.item(f"ENV#{app}#production", "TEARDOWN#tdstuck-first")
    assert record["status"] == "TEARDOWN_FAILED" and record["error"] == "StepTimedOut", record
    assert vpc in record["cause"], record
    assert faults.item(f"ENV#{app}#production", "ENV")["status"] == "TEARDOWN_FAILED"
    assert faults.item(f"ENV#{app}#production", "LOCK")["holder"] == "tdstuck-first"
    assert counts(inventory(faults, app))["VPC"] == 1

    ec2.delete_subnet(SubnetId=foreign)
    time.sleep(1)
    _, desc = tear_down(faults, app, "tdstuck-again")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert_gone(faults, app, "tdstuck-again")
