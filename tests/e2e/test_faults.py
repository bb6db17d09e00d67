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
from conftest import new_commit

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

# What a first deploy of a default app makes, counted by ownership tags.
EXPECTED = {"VPC": 1, "subnet": 4, "internet gateway": 1, "Elastic IP": 1, "NAT gateway": 1, "route table": 2,
            "security group": 3, "load balancer": 1, "target group": 1, "DB instance": 1, "ECS cluster": 1,
            "ECS service": 1}


@pytest.fixture
def faults(local):
    local.clear_faults()
    try:
        yield local
    finally:
        local.clear_faults()


def new_app(local, name: str, cidr: str) -> str:
    stk.register_spec(local.c("dynamodb"), {"name": name, "repository": f"acme/{name}", "network": {"cidr": cidr}})
    local.c("ecr").create_repository(repositoryName=name)
    return name


def deploy(local, app: str) -> tuple[str, dict]:
    commit = new_commit()
    local.put_image(app, commit)
    status, reply = local.push(commit, repository=f"acme/{app}")
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"], timeout=300)
    return reply["execution_arn"], desc


def failures(local, arn: str) -> list[tuple[str, str]]:
    """(error, cause) of every failed attempt of a task in the execution."""
    out = []
    for e in local.history(arn):
        for key, details in e.items():
            if key.endswith("FailedEventDetails") and isinstance(details, dict):
                out.append((details.get("error", ""), details.get("cause", "")))
    return out


def owned(tags, app: str) -> bool:
    pairs = {(t.get("Key", t.get("key")), t.get("Value", t.get("value"))) for t in tags or []}
    return ("stepdeploy:app", app) in pairs and ("stepdeploy:environment", "production") in pairs


def resources(local, app: str) -> dict[str, list[str]]:
    """The ids of everything carrying the app's production ownership tags."""
    ec2, elb, rds, ecs = (local.c(s) for s in ("ec2", "elbv2", "rds", "ecs"))
    tag = [{"Name": "tag:stepdeploy:app", "Values": [app]}, {"Name": "tag:stepdeploy:environment", "Values": ["production"]}]

    def ec2_ids(call, key, id_key):
        return [r[id_key] for r in call(Filters=tag)[key] if owned(r.get("Tags"), app)]

    found = {
        "VPC": ec2_ids(ec2.describe_vpcs, "Vpcs", "VpcId"),
        "subnet": ec2_ids(ec2.describe_subnets, "Subnets", "SubnetId"),
        "internet gateway": ec2_ids(ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
        "Elastic IP": ec2_ids(ec2.describe_addresses, "Addresses", "AllocationId"),
        "NAT gateway": [n["NatGatewayId"] for n in ec2.describe_nat_gateways(Filters=tag)["NatGateways"]
                        if owned(n.get("Tags"), app) and n["State"] not in ("deleting", "deleted")],
        "route table": ec2_ids(ec2.describe_route_tables, "RouteTables", "RouteTableId"),
        "security group": ec2_ids(ec2.describe_security_groups, "SecurityGroups", "GroupId"),
    }
    tags_of = lambda arns: {d["ResourceArn"]: d["Tags"] for d in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]} if arns else {}  # noqa: E731
    lbs = [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]]
    tgs = [tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]]
    found["load balancer"] = [a for a, t in tags_of(lbs).items() if owned(t, app)]
    found["target group"] = [a for a, t in tags_of(tgs).items() if owned(t, app)]
    found["DB instance"] = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
                            if owned(d.get("TagList"), app)]
    clusters = ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"], include=["TAGS"])["clusters"]
    found["ECS cluster"] = [c["clusterArn"] for c in clusters if owned(c.get("tags"), app) and c["status"] == "ACTIVE"]
    found["ECS service"] = []
    for cluster in found["ECS cluster"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for s in ecs.describe_services(cluster=cluster, services=arns, include=["TAGS"])["services"] if arns else []:
            if owned(s.get("tags"), app) and s["status"] == "ACTIVE":
                found["ECS service"].append(s["serviceArn"])
    return found


def assert_exactly_one_of_each(local, app: str) -> dict[str, list[str]]:
    found = resources(local, app)
    assert {k: len(v) for k, v in found.items()} == EXPECTED, found
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
    app = "slowroll"
    stk.register_spec(faults.c("dynamodb"), {"name": app, "repository": f"acme/{app}",
                                             "network": {"cidr": "10.171.0.0/16"},
                                             "deadlines": {"service_minutes": 1}})
    faults.c("ecr").create_repository(repositoryName=app)
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


def stuck_app(local, name: str, cidr: str, deadlines: dict | None = None) -> str:
    spec = {"name": name, "repository": f"acme/{name}", "network": {"cidr": cidr}}
    if deadlines:
        spec["deadlines"] = deadlines
    stk.register_spec(local.c("dynamodb"), spec)
    local.c("ecr").create_repository(repositoryName=name)
    return name


def test_a_database_stuck_stopped_fails_at_its_deadline_naming_it(faults):
    app = stuck_app(faults, "stuckdb", "10.172.0.0/16", {"database_minutes": 1})
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
    app = stuck_app(faults, "stucklb", "10.173.0.0/16")
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
