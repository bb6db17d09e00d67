"""The release task: the spec's one-off command runs once per commit, before
the service moves, and a failing one keeps the service where it was."""

import json

from conftest import assert_crashed_once, call_count, calls_since, new_commit, stk

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def spec(command: list[str], timeout: int = 60) -> dict:
    return {
        "name": "rel",
        "repository": "acme/rel",
        "environments": [{"name": "production", "branch": "main"}, {"name": "staging", "branch": "develop"},
                         {"name": "uat", "branch": "uat"}],
        "network": {"cidr": "10.92.0.0/16"},
        "release": {"command": command, "timeout_seconds": timeout},
    }


def run(local, environment: str, commit: str, name: str) -> dict:
    request = {"app": "rel", "environment": environment, "commit": commit,
               "image": f"{REGISTRY}/rel@sha256:" + commit[:32] * 2}
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name=name, input=json.dumps(request))["executionArn"]
    return local.follow(arn, timeout=240)


def actions(local, since: int) -> list[str]:
    return [c["action"] for c in calls_since(local, since) if c.get("service") == "ecs"]


def service(local, environment: str) -> dict:
    name = f"rel-{environment}"
    return local.c("ecs").describe_services(cluster=name, services=[name])["services"][0]


def test_a_release_runs_once_per_commit_before_the_service_moves(local):
    stk.register_spec(local.c("dynamodb"), spec(["python", "database.py"]))
    commit = new_commit()
    since = call_count(local)
    desc = run(local, "production", commit, "rel-first")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    ecs = actions(local, since)
    assert ecs.count("RunTask") == 1, ecs
    assert ecs.index("RunTask") < ecs.index("CreateService"), ecs
    record = local.item("ENV#rel#production", f"RELEASE#{commit}")
    assert record and record["deployment_id"] == "rel-first", record
    task = local.c("ecs").describe_tasks(cluster="rel-production", tasks=[record["task_arn"]])["tasks"][0]
    assert task["lastStatus"] == "STOPPED" and task["containers"][0]["exitCode"] == 0
    assert task["overrides"]["containerOverrides"][0]["command"] == ["python", "database.py"]
    assert task["taskDefinitionArn"] == service(local, "production")["taskDefinition"]

    # A re-run of the commit (a new execution) does not run it again.
    since = call_count(local)
    desc = run(local, "production", commit, "rel-first-again")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert "RunTask" not in actions(local, since)


def test_a_failing_release_fails_the_deployment_and_the_service_keeps_its_task_definition(local):
    stk.register_spec(local.c("dynamodb"), spec(["python", "database.py"]))
    desc = run(local, "staging", new_commit(), "rel-staging-good")
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    before = service(local, "staging")["taskDefinition"]

    stk.register_spec(local.c("dynamodb"), spec(["python", "fail_migration.py"]))
    commit = new_commit()
    since = call_count(local)
    desc = run(local, "staging", commit, "rel-staging-bad")
    assert desc["status"] == "FAILED"
    assert desc["error"] == "ReleaseFailed", desc
    cause = desc["cause"]
    assert cause.startswith("the release command `python fail_migration.py` exited with code 1 (task "), cause
    assert "Table 'accounts' already exists" in cause and "To fix: make the release command succeed" in cause
    assert len(cause.encode()) <= 1024
    record = local.deployment("rel", "staging", "rel-staging-bad")
    assert record["status"] == "FAILED" and record["error"] == "ReleaseFailed" and record["cause"] == cause
    ecs = actions(local, since)
    assert ecs.count("RunTask") == 1 and "UpdateService" not in ecs, ecs
    assert service(local, "staging")["taskDefinition"] == before
    assert local.item("ENV#rel#staging", f"RELEASE#{commit}") is None


def test_a_crash_right_after_run_task_finds_the_release_again_and_runs_it_once(faults):
    """The Lambda dies right after RunTask answered: the retried poll finds
    the task by its startedBy and waits for it; no second release runs."""
    stk.register_spec(faults.c("dynamodb"), spec(["python", "database.py"]))
    faults.arm_faults({"kind": "crash_after", "service": "ecs", "action": "RunTask", "count": 1})
    commit = new_commit()
    since = call_count(faults)
    request = {"app": "rel", "environment": "production", "commit": commit,
               "image": f"{REGISTRY}/rel@sha256:" + commit[:32] * 2}
    arn = faults.c("stepfunctions").start_execution(
        stateMachineArn=faults.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name="rel-crash",
        input=json.dumps(request))["executionArn"]
    desc = faults.follow(arn, timeout=240)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert_crashed_once(faults, arn, ("ecs", "RunTask", "provision-service"))
    assert actions(faults, since).count("RunTask") == 1
    assert faults.item("ENV#rel#production", f"RELEASE#{commit}")["deployment_id"] == "rel-crash"


def test_a_release_past_its_timeout_is_stopped_and_fails_the_deployment(local):
    """The command never ends: past release.timeout_seconds it is stopped
    (StopTask), and the deployment fails; the service is never created."""
    stk.register_spec(local.c("dynamodb"), spec(["python", "hang_forever.py"], timeout=30))
    since = call_count(local)
    desc = run(local, "uat", new_commit(), "rel-uat-hangs")
    assert desc["status"] == "FAILED" and desc["error"] == "ReleaseFailed", desc
    assert "was stopped before it finished" in desc["cause"], desc["cause"]
    assert "release.timeout_seconds passed" in desc["cause"]
    ecs = actions(local, since)
    assert ecs.count("RunTask") == 1 and ecs.count("StopTask") == 1, ecs
    assert "CreateService" not in ecs
