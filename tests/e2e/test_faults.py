"""A hostile AWS: the emulator throttles, fails and is eventually consistent
on demand (`/_stepdeploy/faults`), and a first deploy still converges, with
exactly one of every resource.

Each deploy is a fresh app (its own environment and range), so counting by
ownership tags sees only what that deploy made. Faults name their service,
action and app (`contains`), so nothing else running meets them; the `faults`
fixture clears them whatever happens."""

import json

import pytest

import local_stack as stk
from conftest import deploy, failures, new_app, new_commit
from inventory import FIRST_DEPLOY, counts, inventory

# The Rust SDK tries a throttled or failed (5xx) call 3 times before the code
# sees the error: a fault answering 3 calls reaches the step once, which then
# fails `Retryable` and the state machine retries it.
SDK_ATTEMPTS = 3

# Each service's first create in a first deploy.
FIRST_CREATES = {
    "ec2": "CreateVpc",
    "rds": "CreateDBSubnetGroup",
    "elasticloadbalancing": "CreateTargetGroup",
    "logs": "CreateLogGroup",
    "ecs": "CreateCluster",
}
THROTTLE_CODES = {"ec2": "RequestLimitExceeded", "rds": "Throttling", "elasticloadbalancing": "Throttling",
                  "logs": "ThrottlingException", "ecs": "ThrottlingException"}
SERVER_ERROR_CODES = {"ec2": "InternalError", "rds": "InternalFailure", "elasticloadbalancing": "ServiceUnavailable",
                      "logs": "ServiceUnavailableException", "ecs": "ServerException"}
NOT_FOUND_CODES = {
    "CreateVpc": "InvalidVpcID.NotFound",
    "CreateSubnet": "InvalidSubnetID.NotFound",
    "CreateInternetGateway": "InvalidInternetGatewayID.NotFound",
    "CreateSecurityGroup": "InvalidGroup.NotFound",
    "AllocateAddress": "InvalidAllocationID.NotFound",
    "CreateRouteTable": "InvalidRouteTableID.NotFound",
    "CreateNatGateway": "InvalidNatGatewayID.NotFound",
}


def assert_exactly_one_of_each(local, app: str) -> dict[str, list[str]]:
    found = inventory(local, app)
    assert counts(found) == FIRST_DEPLOY, found
    return found


def fired_by(listing: dict, fault_id: int) -> list[dict]:
    return [f for f in listing["fired"] if f["fault"] == fault_id]


@pytest.mark.parametrize("kind,codes", [("throttle", THROTTLE_CODES), ("server_error", SERVER_ERROR_CODES)])
def test_a_first_deploy_rides_out_throttling_and_server_errors_on_every_service(faults, kind, codes):
    app = new_app(faults, {"throttle": "throttled", "server_error": "failing"}[kind],
                  {"throttle": "10.101.0.0/16", "server_error": "10.102.0.0/16"}[kind])
    armed = faults.arm_faults(*({"kind": kind, "service": service, "action": action, "count": SDK_ATTEMPTS,
                                 "contains": app} for service, action in FIRST_CREATES.items()))

    arn, desc = deploy(faults, app)

    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    listing = faults.faults()
    seen = failures(faults, arn)
    for fault in armed:
        service = fault["service"]
        fired = fired_by(listing, fault["id"])
        # Every attempt the SDK made met the fault, in the service's own code ...
        assert [(f["action"], f["code"]) for f in fired] == [(fault["action"], codes[service])] * SDK_ATTEMPTS, fired
        assert all(f["status"] >= 500 or f["status"] == 400 for f in fired), fired
        # ... which reached the code, was classed Retryable, and the step was retried.
        mine = [(error, cause) for error, cause in seen if codes[service] in cause and fault["action"] in cause]
        assert [error for error, _ in mine] == ["Retryable"], (service, seen)
    assert len(seen) == len(armed), seen  # nothing else failed
    assert_exactly_one_of_each(faults, app)
    assert faults.item(f"ENV#{app}#production", "ENV")["status"] == "SUCCEEDED"


# The EC2 creates in groups, one deploy per group: each not-found costs one
# retry of Provision Network (2 s, then 4 s, 8 s: the Retry's backoff).
NOT_FOUND_GROUPS = [
    ("CreateVpc", "CreateSubnet", "CreateInternetGateway"),
    ("CreateRouteTable", "AllocateAddress"),
    ("CreateNatGateway", "CreateSecurityGroup"),
]


@pytest.mark.parametrize("group", NOT_FOUND_GROUPS, ids=["vpc-subnet-igw", "rtb-eip", "nat-sg"])
def test_a_first_deploy_rides_out_ids_ec2_does_not_know_yet(faults, group):
    number = NOT_FOUND_GROUPS.index(group)
    app = new_app(faults, f"unknownid{number}", f"10.{111 + number}.0.0/16")
    armed = faults.arm_faults(*({"kind": "not_found_after_create", "service": "ec2", "action": action, "count": 1,
                                 "contains": app} for action in group))

    arn, desc = deploy(faults, app)

    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    listing = {f["id"]: f for f in faults.faults()["armed"]}
    fired = faults.faults()
    seen = failures(faults, arn)
    found = assert_exactly_one_of_each(faults, app)
    all_ids = {i for ids in found.values() for i in ids}
    for fault in armed:
        action, code = fault["action"], NOT_FOUND_CODES[fault["action"]]
        created = listing[fault["id"]]["created"]
        assert created, f"{action} never succeeded after the fault was armed"
        hits = fired_by(fired, fault["id"])
        assert [(f["code"], f["resource"]) for f in hits] == [(code, created)], hits
        # The code saw the not-found on the call after the create, retried the
        # step, and kept the resource it had created: no second one was made.
        assert [e for e, cause in seen if code in cause and created in cause] == ["Retryable"], (action, hits, seen)
        assert created in all_ids, (action, created, found)
    assert len(seen) == len(armed), seen
    assert json.loads(desc["output"])["deployment_id"]


def test_a_rollout_slower_than_its_deadline_fails_naming_the_service(faults):
    """A stuck step fails within its deadline, says what it waited for, and
    closes the ledger: here the service's rollout takes longer than the
    spec's one-minute service deadline."""
    app = new_app(faults, "slowroll", "10.171.0.0/16", {"service_minutes": 1})
    faults.arm_faults({"kind": "rollout_seconds", "value": 240})
    arn, desc = deploy(faults, app)
    assert desc["status"] == "FAILED", desc
    assert desc["error"] == "StepTimedOut", desc
    cause = desc["cause"]
    assert "provision-service was still not ready after 1 min" in cause, cause
    assert f"ECS service {app}-production" in cause and "IN_PROGRESS" in cause.upper(), cause
    waited = (desc["stopDate"] - desc["startDate"]).total_seconds()
    assert 60 <= waited < 200, waited
    env = faults.item(f"ENV#{app}#production", "ENV")
    assert env["status"] == "FAILED", env
    record = faults.deployment(app, "production", arn.rsplit(":", 1)[1])
    assert record["status"] == "FAILED" and record["error"] == "StepTimedOut", record


def test_a_database_stuck_stopped_fails_at_its_deadline_naming_it(faults):
    app = new_app(faults, "stuckdb", "10.172.0.0/16", {"database_minutes": 1})
    faults.arm_faults({"kind": "stuck", "service": "rds", "contains": app})
    arn, desc = deploy(faults, app)
    assert desc["status"] == "FAILED", desc
    assert desc["error"] == "StepTimedOut", desc
    assert f"RDS instance {app}-production-db is stopped" in desc["cause"], desc["cause"]
    assert "still not ready after 1 min" in desc["cause"], desc["cause"]
    assert any(f["kind"] == "stuck" and f["service"] == "rds" for f in faults.faults()["fired"])
    record = faults.deployment(app, "production", arn.rsplit(":", 1)[1])
    assert record["status"] == "FAILED" and record["error"] == "StepTimedOut", record


def test_a_failed_load_balancer_fails_at_once_saying_what_to_do(faults):
    app = new_app(faults, "stucklb", "10.173.0.0/16")
    faults.arm_faults({"kind": "stuck", "service": "elasticloadbalancing", "contains": app})
    arn, desc = deploy(faults, app)
    assert desc["status"] == "FAILED", desc
    assert desc["error"] == "Conflict", desc
    cause = desc["cause"]
    assert f"load balancer {app}-production is failed" in cause and "delete it" in cause, cause
    waited = (desc["stopDate"] - desc["startDate"]).total_seconds()
    assert waited < 60, waited  # no polling until a deadline: failed is final
    record = faults.deployment(app, "production", arn.rsplit(":", 1)[1])
    assert record["status"] == "FAILED" and record["error"] == "Conflict", record


def test_a_nat_gateway_that_keeps_failing_fails_the_deploy_after_three_attempts(faults):
    """AWS fails every NAT gateway of the app (no free addresses in the
    subnet): the step replaces a failed one, but not forever."""
    app = new_app(faults, "stucknat", "10.174.0.0/16")
    faults.arm_faults({"kind": "stuck", "service": "ec2", "contains": app})
    arn, desc = deploy(faults, app)
    assert desc["status"] == "FAILED", (faults.faults(), desc.get("output"))
    assert desc["error"] == "Fatal", desc
    cause = desc["cause"]
    assert f"NAT gateway {app}-production-nat" in cause and "failed 3 times" in cause, cause
    assert "InsufficientFreeAddressesInSubnet" in cause and "start the deployment again" in cause, cause
    waited = (desc["stopDate"] - desc["startDate"]).total_seconds()
    assert waited < 120, waited  # no polling until the network's deadline: three attempts, then out
    ec2 = faults.c("ec2")
    made = [n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"]
            if ("stepdeploy:app", app) in {(t["Key"], t["Value"]) for t in n.get("Tags", [])}]
    assert len(made) == 3, made
    record = faults.deployment(app, "production", arn.rsplit(":", 1)[1])
    assert record["status"] == "FAILED" and record["error"] == "Fatal", record


def test_tasks_failing_health_checks_fail_the_deploy_at_its_deadline_saying_why(faults):
    """The service's tasks start, fail the load balancer's health checks and
    are stopped, again and again: the service step fails at its deadline,
    quoting ECS's event and saying what to do."""
    app = new_app(faults, "sicktasks", "10.175.0.0/16", {"service_minutes": 1})
    faults.arm_faults({"kind": "stuck", "service": "ecs", "contains": app})
    arn, desc = deploy(faults, app)
    assert desc["status"] == "FAILED", desc
    assert desc["error"] == "StepTimedOut", desc
    cause = desc["cause"]
    assert f"ECS service {app}-production" in cause and "IN_PROGRESS" in cause, cause
    assert "failed ELB health checks" in cause and "health check path" in cause, cause
    assert f"/stepdeploy/{app}/production" in cause, cause
    waited = (desc["stopDate"] - desc["startDate"]).total_seconds()
    assert 60 <= waited < 200, waited
    record = faults.deployment(app, "production", arn.rsplit(":", 1)[1])
    assert record["status"] == "FAILED" and record["error"] == "StepTimedOut", record


def test_a_delivery_answered_503_is_deployed_once_when_redelivered(faults):
    """Step Functions fails while the webhook starts the execution: the
    webhook answers 503 (its claim on the delivery kept, unstarted), and the
    redelivery a person sends from GitHub's webhook page starts it, once."""
    app = new_app(faults, "redeliver", "10.177.0.0/16")
    commit = new_commit()
    faults.put_image(app, commit)
    faults.arm_faults({"kind": "server_error", "service": "states", "action": "StartExecution", "count": 3,
                       "contains": app})
    status, reply = faults.push(commit, repository=f"acme/{app}", delivery=f"{app}-1")
    assert status == 503 and "redeliver" in reply["error"], (status, reply)
    assert [e for e in faults.executions(app)] == []
    # Nothing is left QUEUED: the record says it did not start, and how to start it.
    [record] = [r for r in faults.c("dynamodb").query(
        TableName=stk.TABLE, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ENV#{app}#production"}})["Items"] if r["sk"]["S"].startswith("DEPLOY#")]
    assert record["status"]["S"] == "FAILED" and record["error"]["S"] == "NotStarted", record
    assert "redeliver the push" in record["cause"]["S"] and "StartExecution" in record["cause"]["S"], record

    # The redelivery finds the claim unstarted and finishes what the first
    # attempt began, under the same deployment id (answered as a duplicate).
    status, reply = faults.push(commit, repository=f"acme/{app}", delivery=f"{app}-1")
    assert status == 200 and reply["duplicate"] and reply["execution_arn"], reply
    assert faults.follow(reply["execution_arn"])["status"] == "SUCCEEDED"
    assert faults.deployment(app, "production", reply["deployment_id"])["status"] == "SUCCEEDED"
    status, again = faults.push(commit, repository=f"acme/{app}", delivery=f"{app}-1")
    assert status == 200 and again["duplicate"] and again["execution_arn"] == reply["execution_arn"], again
    assert len(faults.executions(app)) == 1
