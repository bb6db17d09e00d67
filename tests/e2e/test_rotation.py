"""RDS rotates a database's managed secret: the secret-rotated Lambda redeploys
the environment's last successful deployment through the deploy state
machine, and the service gets one forced new deployment of the same task
definition, recorded in the ledger with its trigger."""

import copy
import json
import time
import uuid

import local_stack as stk
from conftest import ROOT, new_commit

# An app of its own, so other tests' deployments never interleave with it.
ROTATION_APP = {
    "name": "rotapp",
    "repository": "acme/rotapp",
    "image": {"repository": "rotapp", "wait_timeout_seconds": 60},
    "network": {"cidr": "10.100.0.0/16"},
}
APP, ENV = "rotapp", "production"


def deploy_fresh_app(local):
    """Register the app, push its image and deploy a commit by a push; the
    execution's output."""
    stk.register_spec(local.c("dynamodb"), ROTATION_APP)
    try:
        local.c("ecr").create_repository(repositoryName=APP)
    except local.c("ecr").exceptions.RepositoryAlreadyExistsException:
        pass
    commit = new_commit()
    local.put_image(APP, commit)
    status, reply = local.push(commit, repository=ROTATION_APP["repository"])
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    return json.loads(desc["output"])


def rotation_event(secret_arn, event_id=None):
    """events/secret-rotated.rotation.json for another secret, id and time."""
    event = copy.deepcopy(json.loads((ROOT / "events" / "secret-rotated.rotation.json").read_text()))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event.update({"id": event_id or str(uuid.uuid4()), "time": now})
    event["detail"]["eventTime"] = now
    event["detail"]["additionalEventData"]["SecretId"] = secret_arn
    return event


def service(local):
    (svc,) = local.c("ecs").describe_services(cluster=f"{APP}-{ENV}", services=[f"{APP}-{ENV}"])["services"]
    return svc


def test_a_rotated_database_secret_replaces_the_running_tasks(local):
    first = deploy_fresh_app(local)
    (db,) = local.c("rds").describe_db_instances(DBInstanceIdentifier=f"{APP}-{ENV}-db")["DBInstances"]
    secret_arn = db["MasterUserSecret"]["SecretArn"]
    before = service(local)
    (primary_before,) = before["deployments"]
    executions_before = len(local.executions())

    event = rotation_event(secret_arn)
    status, reply = local.invoke("secret-rotated", event)
    assert status == 200, reply
    assert (reply["app"], reply["environment"]) == (APP, ENV), reply
    assert reply["commit"] == first["commit"] and reply["image"] == first["image"], reply
    assert reply["redeploys"] == first["deployment_id"]
    assert reply["execution_arn"].endswith(":" + reply["deployment_id"])

    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    out = json.loads(desc["output"])
    assert out["task_definition"] == first["task_definition"]
    assert out["mutations"] == 1, out["changes"]
    assert out["changes"][0].startswith(f"forced a new deployment of service {APP}-{ENV}"), out["changes"]
    assert f"RDS rotated the master password of {APP}-{ENV}-db" in out["changes"][0]

    # A new deployment of the same task definition, rolled out to the end.
    after = service(local)
    (primary,) = after["deployments"]
    assert after["taskDefinition"] == before["taskDefinition"] == first["task_definition"]
    assert primary["taskDefinition"] == first["task_definition"]
    assert primary["id"] != primary_before["id"]
    assert primary["rolloutState"] == "COMPLETED" and after["runningCount"] == after["desiredCount"]

    record = local.deployment(APP, ENV, reply["deployment_id"])
    assert record["status"] == "SUCCEEDED"
    assert record["trigger"] == "secret-rotation"
    assert (record["commit"], record["image"]) == (first["commit"], first["image"])
    assert local.item(f"ENV#{APP}#{ENV}", "ENV")["last_deployment"] == reply["deployment_id"]
    assert len(local.executions()) == executions_before + 1

    # EventBridge delivers the same event again: the same execution, nothing new.
    status, again = local.invoke("secret-rotated", event)
    assert status == 200, again
    assert again["deployment_id"] == reply["deployment_id"]
    assert len(local.executions()) == executions_before + 1
    assert service(local)["deployments"][0]["id"] == primary["id"]

    # The next rotation redeploys the rotation's own deployment: the same commit and image again.
    status, next_one = local.invoke("secret-rotated", rotation_event(secret_arn))
    assert status == 200, next_one
    assert next_one["deployment_id"] != reply["deployment_id"]
    assert (next_one["commit"], next_one["image"]) == (first["commit"], first["image"])
    assert local.follow(next_one["execution_arn"])["status"] == "SUCCEEDED"


def test_the_rotation_of_a_secret_no_owned_database_uses_is_ignored(local):
    sm = local.c("secretsmanager")
    arn = sm.create_secret(Name=f"unrelated/{uuid.uuid4().hex[:8]}", SecretString="x")["ARN"]
    executions_before = len(local.executions())
    status, reply = local.invoke("secret-rotated", rotation_event(arn))
    assert status == 200, reply
    assert "no database stepdeploy owns" in reply["ignored"], reply
    assert reply["secret"] == arn
    status, reply = local.invoke("secret-rotated", {**rotation_event(arn), "source": "aws.kms"})
    assert status == 200 and "not a successful Secrets Manager rotation" in reply["ignored"], reply
    assert len(local.executions()) == executions_before


def test_a_dry_run_of_a_restart_plans_the_forced_update(local):
    first = deploy_fresh_app(local)
    request = {"app": APP, "environment": ENV, "commit": first["commit"], "image": first["image"],
               "dry_run": True, "restart": "the database's managed secret was rotated"}
    arn = local.c("stepfunctions").start_execution(
        stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"],
        name=f"plan-restart-{uuid.uuid4().hex[:8]}", input=json.dumps(request))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    plan = json.loads(desc["output"])["plan"]
    changed = [(p["resource"], p["action"], p.get("what")) for p in plan if p["action"] != "nothing"]
    assert changed == [("ECS service", "update",
                        ["replace the running tasks: the database's managed secret was rotated"])], changed
    assert service(local)["deployments"][0]["taskDefinition"] == first["task_definition"]
