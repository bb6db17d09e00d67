"""Preflight: before its first change, a deployment is checked against the
account; a refusal makes zero mutating calls, a warning only says so, and a
dry run lists both in its plan."""

import json
import time

from conftest import call_count, deploy, mutating_calls, new_app, new_commit, stk


def dry_run(local, app: str) -> dict:
    name = f"plan-{app}-{time.time_ns() % 10**9}"
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name=name,
        input=json.dumps({"app": app, "environment": "production", "commit": new_commit(), "dry_run": True}))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    return json.loads(desc["output"])


def elastic_ips(local) -> int:
    return len(local.c("ec2").describe_addresses()["Addresses"])


def test_no_elastic_ip_left_refuses_the_first_deploy_before_any_change(faults):
    app = new_app(faults, "pfquota", "10.193.0.0/16")
    faults.arm_faults({"kind": "elastic_ip_limit", "value": elastic_ips(faults)})
    since = call_count(faults)
    arn, desc = deploy(faults, app)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "InvalidInput", desc
    assert "preflight refused the deployment before any change: quota: Elastic IPs" in desc["cause"], desc["cause"]
    assert "release unused addresses or request an increase" in desc["cause"]
    assert mutating_calls(faults, since) == []
    states = faults.states(arn)
    assert "Preflight" in states and "Acquire Lease" not in states, states
    record = faults.deployment(app, "production", arn.rsplit(":", 1)[1])
    assert record["status"] == "FAILED" and record["error"] == "InvalidInput"

    # A dry run lists the refusal in its plan, and goes on planning.
    out = dry_run(faults, app)
    # (The test stack's many environments may add warnings about default quotas.)
    refused = [p for p in out["plan"] if p["resource"] == "preflight" and p["action"] != "nothing"]
    assert [(p["name"], p["action"]) for p in refused] == [("quota: Elastic IPs", "failed")], refused
    assert any(p["resource"] == "VPC" and p["action"] == "create" for p in out["plan"])

    # Once an address is free (here: the limit back up), it deploys.
    faults.clear_faults()
    _, desc = deploy(faults, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")


def test_a_range_overlapping_a_foreign_vpc_warns_and_deploys(local):
    foreign = local.c("ec2").create_vpc(CidrBlock="10.194.0.0/20")["Vpc"]["VpcId"]
    try:
        app = new_app(local, "pfoverlap", "10.194.0.0/16")
        out = dry_run(local, app)
        # (The test stack's many environments may add warnings about default quotas.)
        warned = [p for p in out["plan"] if p["resource"] == "preflight" and p["name"].startswith("network.cidr")]
        assert len(warned) == 1 and warned[0]["action"] == "nothing", warned
        assert warned[0]["name"].startswith(f"network.cidr: warning: 10.194.0.0/16 overlaps {foreign} (10.194.0.0/20)")

        _, desc = deploy(local, app)
        assert desc["status"] == "SUCCEEDED", desc.get("cause")
        warnings = [w for w in json.loads(desc["output"])["warnings"] if w.startswith("network.cidr")]
        assert len(warnings) == 1 and foreign in warnings[0] and "choose another network.cidr" in warnings[0]
        # The environment's own VPC on the same range is not a warning on the next deploy.
        _, desc = deploy(local, app)
        again = json.loads(desc["output"])["warnings"]
        assert [w for w in again if w.startswith("network.cidr")] == warnings, again
        assert not any(w.startswith("quota:") for w in again), again  # nothing new to create
    finally:
        local.c("ec2").delete_vpc(VpcId=foreign)


def test_a_size_fargate_does_not_offer_is_refused_before_any_change(local):
    """256 CPU with 4096 MiB is no Fargate size: the spec's validation, the
    first check of every deployment, refuses it with what to choose."""
    stk.register_spec(local.c("dynamodb"), {"name": "pfsize", "repository": "acme/pfsize",
                                            "network": {"cidr": "10.195.0.0/16"},
                                            "service": {"cpu": 256, "memory": 4096}})
    since = call_count(local)
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name="pfsize-refused",
        input=json.dumps({"app": "pfsize", "environment": "production", "commit": new_commit()}))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput", desc
    assert "service.cpu 256 with service.memory 4096 is not a Fargate size" in desc["cause"], desc["cause"]
    assert mutating_calls(local, since) == []
    assert local.states(arn) == ["Begin Deployment", "Explain Refusal", "Request Refused"]
