"""Dry runs: the real state machine plans every step on the emulator and
changes nothing; its plan predicts what the deploy that follows does."""

import json
import time

import local_stack as stk
from conftest import INFRA, call_count, calls_since, is_mutating, mutating_calls, new_commit

PLAN_APP = {
    "name": "planapp",
    "repository": "acme/planapp",
    "network": {"cidr": "10.90.0.0/16"},
}


def dry_run(local, commit, app="planapp", environment="production"):
    name = f"plan-{app}-{commit[:7]}-{time.time_ns() % 10**9}"
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name=name,
        input=json.dumps({"app": app, "environment": environment, "commit": commit, "dry_run": True}))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    return arn, name, json.loads(desc["output"])


def changes(plan):
    return [(r["resource"], r["action"]) for r in plan if r["action"] != "nothing"]


def test_dry_run_plans_the_first_deploy_exactly_and_changes_nothing(local):
    stk.register_spec(local.c("dynamodb"), PLAN_APP)
    local.c("ecr").create_repository(repositoryName="planapp")
    commit = new_commit()

    # Image not pushed yet: the dry run reports the wait instead of waiting.
    before = call_count(local)
    arn, name, out = dry_run(local, commit)
    assert "Look Up Image" in local.states(arn) and "Wait For Image" not in local.states(arn)
    assert out["status"] == "PLANNED" and out["mutations"] == 0
    image = out["plan"][0]
    assert image["resource"] == "image" and image["action"] == "wait", image
    calls = [c for c in calls_since(local, before) if c["service"] in INFRA]
    assert calls, "a dry run describes what exists"
    mutating = [c for c in calls if is_mutating(c)]
    assert mutating == [], mutating
    kinds = {r["resource"] for r in out["plan"] if r["action"] == "create"}
    for kind in ("VPC", "subnet", "internet gateway", "NAT gateway", "Elastic IP", "route table", "security group",
                 "DB subnet group", "RDS instance", "target group", "load balancer", "listener",
                 "log group", "ECS cluster", "task definition", "ECS service"):
        assert kind in kinds, (kind, sorted(kinds))
    # Nothing of it exists, in AWS or in the ledger's view of the environment.
    assert local.c("ec2").describe_vpcs(Filters=[{"Name": "tag:stepdeploy:app", "Values": ["planapp"]}])["Vpcs"] == []
    assert local.item("ENV#planapp#production", "ENV") is None
    record = local.deployment("planapp", "production", name)
    assert record["status"] == "PLANNED" and len(record["plan"]) == len(out["plan"])

    # The deploy that follows makes exactly the calls the plan predicted.
    local.put_image("planapp", commit)
    _, _, planned = dry_run(local, commit)
    assert planned["plan"][0]["action"] == "nothing"
    status, reply = local.push(commit, repository="acme/planapp")
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    deployed = json.loads(desc["output"])
    assert deployed["mutations"] == planned["calls"] == 35, (deployed["changes"], planned["plan"])

    # Converged: nothing to change, and no call that would change anything.
    before = call_count(local)
    _, _, same = dry_run(local, commit)
    assert changes(same["plan"]) == [] and same["calls"] == 0, changes(same["plan"])
    assert mutating_calls(local, before) == []
    env = local.item("ENV#planapp#production", "ENV")
    assert env["status"] == "SUCCEEDED" and env["commit"] == commit

    # A new commit: exactly the task definition and the service change.
    newer = new_commit()
    local.put_image("planapp", newer)
    _, _, new = dry_run(local, newer)
    assert [r for r, _ in changes(new["plan"])] == ["task definition", "ECS service"], new["plan"]
    assert new["calls"] == 2
    assert local.item("ENV#planapp#production", "ENV")["commit"] == commit


def test_a_dry_run_of_an_unknown_environment_is_refused_with_why(local):
    name = f"plan-bad-{time.time_ns() % 10**9}"
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name=name,
        input=json.dumps({"app": "quick", "environment": "nowhere", "commit": new_commit(), "dry_run": True}))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "FAILED"
    assert "no environment \"nowhere\"" in desc.get("cause", ""), desc
