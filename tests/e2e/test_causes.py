"""A failed rollout says why, in one message, with the facts in the ledger.

The emulator's tasks fail as their image says (`scripts/emulator/tasks.py`):
each test deploys to an environment of its own, through the real state
machine, and checks the error the execution fails with, its cause as a user
reads it, what the ledger keeps, and that the service still runs what it ran.
"""

import json

from boto3.dynamodb.types import TypeDeserializer
from conftest import new_commit, stk

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ENVIRONMENTS = ("running", "exits", "unhealthy", "oom", "pull", "secrets")
CAUSES = {
    "name": "causes",
    "repository": "acme/causes",
    "environments": [{"name": e, "branch": e} for e in ENVIRONMENTS],
    "network": {"cidr": "10.91.0.0/16"},
}


def image(repository: str) -> str:
    return f"{REGISTRY}/{repository}@sha256:" + new_commit()[:32] * 2


def run(local, environment: str, repository: str, name: str) -> dict:
    if local.item("APP#causes", "SPEC") is None:
        stk.register_spec(local.c("dynamodb"), CAUSES)
    request = {"app": "causes", "environment": environment, "commit": new_commit(), "image": image(repository)}
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name=name, input=json.dumps(request))["executionArn"]
    return local.follow(arn, timeout=240)


def service(local, environment: str) -> dict:
    name = f"causes-{environment}"
    return local.c("ecs").describe_services(cluster=name, services=[name])["services"][0]


def tasks(local, environment: str, status: str) -> list[dict]:
    name = f"causes-{environment}"
    ecs = local.c("ecs")
    arns = ecs.list_tasks(cluster=name, serviceName=name, desiredStatus=status)["taskArns"]
    return ecs.describe_tasks(cluster=name, tasks=arns)["tasks"] if arns else []


def failed(local, environment: str, name: str, desc: dict) -> tuple[dict, str]:
    """The ledger record of a failed deployment, and the execution's cause."""
    assert desc["status"] == "FAILED", desc.get("output")
    record = local.deployment("causes", environment, name)
    assert record["status"] == "FAILED"
    assert record["error"] == desc["error"]
    assert len(record["cause"].encode()) <= 1024, record["cause"]
    assert record["cause"] == desc["cause"]
    record["diagnosis"] = TypeDeserializer().deserialize({"M": record["diagnosis"]})
    assert record["diagnosis"]["cause"] == ("Unknown" if desc["error"] == "RolloutFailed" else desc["error"])
    return record, record["cause"]


def test_a_running_service_lists_its_tasks_healthy_in_the_target_group(local):
    desc = run(local, "running", "causes", "running-1")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    svc = service(local, "running")
    running = tasks(local, "running", "RUNNING")
    assert len(running) == 2 and {t["taskDefinitionArn"] for t in running} == {svc["taskDefinition"]}
    assert all(t["lastStatus"] == "RUNNING" and t["group"] == "service:causes-running" for t in running)
    group = svc["loadBalancers"][0]["targetGroupArn"]
    health = local.c("elbv2").describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    ips = {d["value"] for t in running for a in t["attachments"] for d in a["details"] if d["name"] == "privateIPv4Address"}
    assert {h["Target"]["Id"] for h in health} == ips
    assert {h["TargetHealth"]["State"] for h in health} == {"healthy"}

    # A new commit replaces them: the old ones stop, named by the rollout.
    first = {t["taskArn"] for t in running}
    desc = run(local, "running", "causes", "running-2")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    stopped = {t["taskArn"]: t for t in tasks(local, "running", "STOPPED")}
    assert first <= set(stopped)
    assert all(stopped[a]["stoppedReason"].startswith("Scaling activity initiated by") for a in first)
    assert len(tasks(local, "running", "RUNNING")) == 2


def test_a_container_that_exits_on_start_fails_with_its_log_and_the_old_tasks_keep_running(local):
    desc = run(local, "exits", "causes", "exits-good")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    before = service(local, "exits")["taskDefinition"]
    calls = stk.get_json(f"{local.env['AWS_ENDPOINT_URL']}/_stepdeploy/calls?since=0")["calls"]
    updates_before = sum(1 for c in calls if c.get("action") == "UpdateService")

    desc = run(local, "exits", "exits-on-start", "exits-bad")
    record, cause = failed(local, "exits", "exits-bad", desc)
    assert desc["error"] == "ContainerExited", desc
    assert cause.startswith("The container web exited with code 1 (task "), cause
    assert "ModuleNotFoundError: No module named 'flask_sqlalchemy'" in cause
    assert "To fix: fix the error its log shows" in cause
    facts = record["diagnosis"]["facts"]
    assert record["diagnosis"]["cause"] == "ContainerExited"
    assert facts["log_stream"].startswith("causes/web/") and len(facts["log_lines"]) >= 5
    assert facts["tasks"][0]["containers"][0]["exit_code"] == 1
    # The app printed its database password; neither the cause nor the ledger keeps it.
    db = local.c("rds").describe_db_instances(DBInstanceIdentifier="causes-exits-db")["DBInstances"][0]
    secret = json.loads(local.c("secretsmanager").get_secret_value(SecretId=db["MasterUserSecret"]["SecretArn"])["SecretString"])
    assert secret["password"] and secret["password"] not in json.dumps(record, default=str)
    assert any("DB_PASSWORD=***" in line for line in facts["log_lines"]), facts["log_lines"]
    # ECS rolled back: the service runs the task definition it ran, its tasks untouched.
    assert service(local, "exits")["taskDefinition"] == before
    assert {t["taskDefinitionArn"] for t in tasks(local, "exits", "RUNNING")} == {before}
    calls = stk.get_json(f"{local.env['AWS_ENDPOINT_URL']}/_stepdeploy/calls?since=0")["calls"]
    assert sum(1 for c in calls if c.get("action") == "UpdateService") == updates_before + 1


def test_failing_health_checks_name_the_path_the_port_and_the_answer(local):
    desc = run(local, "unhealthy", "unhealthy", "unhealthy-1")
    record, cause = failed(local, "unhealthy", "unhealthy-1", desc)
    assert desc["error"] == "HealthCheckFailed", desc
    assert "failed the load balancer's health check GET /health on port 8000" in cause, cause
    assert "Health checks failed with these codes: [404] (Target.ResponseCodeMismatch)" in cause, cause
    assert '"GET /health HTTP/1.1" 404' in cause
    assert record["diagnosis"]["facts"]["targets"][0]["reason"] == "Target.ResponseCodeMismatch"


def test_a_container_out_of_memory_says_how_much_it_had(local):
    desc = run(local, "oom", "out-of-memory", "oom-1")
    _, cause = failed(local, "oom", "oom-1", desc)
    assert desc["error"] == "OutOfMemory", desc
    assert "was killed for using more than the task's 1024 MiB" in cause
    assert "exit code 137, OutOfMemoryError: Container killed due to memory usage" in cause
    assert "raise service.memory" in cause


def test_an_image_that_cannot_be_pulled_names_the_image(local):
    desc = run(local, "pull", "broken", "pull-1")
    record, cause = failed(local, "pull", "pull-1", desc)
    assert desc["error"] == "ImagePullFailed", desc
    assert cause.startswith(f"ECS could not pull the image {REGISTRY}/broken@sha256:"), cause
    assert "CannotPullContainerError" in cause
    assert record["diagnosis"]["facts"]["tasks"][0]["stop_code"] == "TaskFailedToStart"


def test_a_secret_the_tasks_cannot_read_is_named(local):
    desc = run(local, "secrets", "causes", "secrets-good")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    db = local.c("rds").describe_db_instances(DBInstanceIdentifier="causes-secrets-db")["DBInstances"][0]
    local.c("secretsmanager").delete_secret(SecretId=db["MasterUserSecret"]["SecretArn"], ForceDeleteWithoutRecovery=True)

    desc = run(local, "secrets", "causes", "secrets-bad")
    _, cause = failed(local, "secrets", "secrets-bad", desc)
    assert desc["error"] == "SecretsUnreadable", desc
    assert "ECS could not read the task's secrets" in cause and "ResourceInitializationError" in cause
    assert "secretsmanager:GetSecretValue" in cause
