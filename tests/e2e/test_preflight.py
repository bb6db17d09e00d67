"""Preflight: before its first change, a deployment is checked against the
account; a refusal makes zero mutating calls, a warning only says so, and a
dry run lists both in its plan."""

import json
import time

from conftest import call_count, calls_since, deploy, mutating_calls, new_app, new_commit, stk


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
    assert local.states(arn) == ["Read Spec", "Begin Deployment", "Explain Refusal", "Report Refusal", "Request Refused"]


# --- The container port against the ports the image declares (EXPOSE) ---

def port_findings(out: dict) -> list[tuple[str, str]]:
    return [(p["name"], p["action"]) for p in out["plan"] if p["resource"] == "preflight" and p["name"].startswith("service.port")]


def dry_run_of(local, app: str, commit: str) -> dict:
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name=f"plan-{app}-{time.time_ns() % 10**9}",
        input=json.dumps({"app": app, "environment": "production", "commit": commit, "dry_run": True}))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    return json.loads(desc["output"])


def test_an_image_listening_on_another_port_is_refused_before_any_change(local):
    """The reference app's mistake: the image EXPOSEs 5000, the spec says 8000.
    Preflight reads the image's config from ECR and refuses, naming both."""
    app = new_app(local, "pfport", "10.196.0.0/16")
    commit = new_commit()
    digest = local.put_image(app, commit, exposed=(5000,))
    since = call_count(local)
    status, reply = local.push(commit, repository=f"acme/{app}")
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"], timeout=120)
    assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput", desc
    cause = desc["cause"]
    assert f".dkr.ecr.us-east-1.amazonaws.com/{app}@{digest} declares 5000/tcp (EXPOSE in its Dockerfile) but service.port is 8000" in cause, cause
    assert "To fix: set service.port to 5000 in the app spec, or make the app listen on 8000 and EXPOSE 8000" in cause, cause
    assert mutating_calls(local, since) == []
    # Read through ECR's API, as on AWS: the manifest, then the config blob.
    called = {(c["service"], c["action"]) for c in calls_since(local, since)}
    assert {("ecr", "BatchGetImage"), ("ecr", "GetDownloadUrlForLayer")} <= called, called
    assert "Acquire Lease" not in local.states(reply["execution_arn"])

    # The same image's dry run names it as a refusal in the plan.
    assert port_findings(dry_run_of(local, app, commit)) == [("service.port", "failed")]
    # An image that declares 8000 (among others) passes; one that declares no
    # port at all is not checked, and the plan says so.
    fixed, bare = new_commit(), new_commit()
    local.put_image(app, fixed, exposed=(8000, 9090))
    assert port_findings(dry_run_of(local, app, fixed)) == []
    local.put_image(app, bare, exposed=None)
    (note,) = port_findings(dry_run_of(local, app, bare))
    assert note[1] == "nothing" and "declares no port (no EXPOSE in its Dockerfile)" in note[0], note


def test_a_docker_hub_image_is_read_through_the_registry_and_its_storage(local):
    """Docker Hub: a pull token for the manifest, then the config blob, which
    the registry redirects to storage on another origin that refuses the
    token (the emulator's storage, like Docker Hub's CDN, answers 400 to an
    Authorization header): reading it proves the redirect was followed
    without the token."""
    stk.register_spec(local.c("dynamodb"), {"name": "pfhub", "repository": "acme/pfhub",
                                            "network": {"cidr": "10.197.0.0/16"},
                                            "image": {"repository": "acme/pfhub"}})
    commit = new_commit()
    local.push_docker_hub("acme/pfhub", commit, exposed=(5000,))
    (refused,) = port_findings(dry_run_of(local, "pfhub", commit))
    assert refused == ("service.port", "failed"), refused
    fixed = new_commit()
    local.push_docker_hub("acme/pfhub", fixed, exposed=(8000,))
    assert port_findings(dry_run_of(local, "pfhub", fixed)) == []
