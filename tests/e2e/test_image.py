"""Wait For Image: parked on a task token, resumed by image-ready."""

import json
import time

from conftest import ROOT, new_commit, stk


def ecr_event(commit, digest, repository="quick", result="SUCCESS"):
    event = json.loads((ROOT / "events" / "image-ready.ecr-push.json").read_text())
    event["detail"].update({"image-tag": commit, "image-digest": digest, "repository-name": repository, "result": result})
    return event


def task_definition_image(local, execution_arn):
    """The image the deployment resolved, from the history (what later steps run)."""
    for ev in local.history(execution_arn):
        if ev["type"] == "TaskStateExited" and ev["stateExitedEventDetails"]["name"] == "Wait For Image":
            return json.loads(ev["stateExitedEventDetails"]["output"])["image"]
    return None


def parked(local, commit, **push):
    """Push `commit` and wait until its deployment is parked (its waiter is in
    the ledger and image-ready's invocation that parked it has ended, so its
    last look at the registry is behind it, not just the state entered):
    (deployment id, execution ARN)."""
    status, reply = local.push(commit, **push)
    assert status == 202, reply
    deployment_id, arn = reply["deployment_id"], reply["execution_arn"]
    local.wait_state(arn, "Wait For Image")
    entered = next(e for e in local.history(arn) if e["type"] == "TaskStateEntered"
                   and e["stateEnteredEventDetails"]["name"] == "Wait For Image")
    image = json.loads(entered["stateEnteredEventDetails"]["input"])["deployment"]["image"]
    key = f"{image['registry']}/{image['repository']}:{image['tag']}"
    deadline = time.time() + 60
    while (local.item(f"IMAGE#{key}", f"WAIT#{deployment_id}") is None
           or not any(e["type"] == "TaskSubmitted" for e in local.history(arn))):
        assert time.time() < deadline, f"{deployment_id} never parked on {key}"
        time.sleep(0.1)
    return deployment_id, arn


def test_a_deployment_parks_until_its_image_is_pushed(local):
    # An app of its own that waits minutes, not the quick app's 4 s: on a
    # loaded machine parking alone can take longer than that.
    stk.register_spec(local.c("dynamodb"), {"name": "patient", "repository": "acme/patient",
                                            "network": {"cidr": "10.41.0.0/16"}})
    local.c("ecr").create_repository(repositoryName="patient")
    commit = new_commit()
    deployment_id, arn = parked(local, commit, repository="acme/patient")
    time.sleep(1)
    assert local.c("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert "Provision Network" not in local.states(arn)

    digest = local.put_image("patient", commit)
    started = time.time()
    status, out = local.invoke("image-ready", ecr_event(commit, digest, repository="patient"))
    assert status == 200, out
    assert out["resumed"] == [deployment_id]
    local.wait_state(arn, "Provision Network")
    resumed_after = time.time() - started
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    image = task_definition_image(local, arn)
    assert image["waited"] is True
    assert image["digest"] == digest
    assert image["uri"].endswith(f"/patient@{digest}")
    print(f"image event -> execution left Wait For Image in {resumed_after:.2f}s")


def test_an_image_pushed_first_is_not_waited_for(local):
    commit = new_commit()
    digest = local.put_image("quick", commit)
    status, reply = local.push(commit, repository="acme/quick", branch="develop")
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    image = task_definition_image(local, reply["execution_arn"])
    assert image == {"uri": image["uri"], "digest": digest, "waited": False}


def test_an_arrival_recorded_before_the_wait_resumes_it(local):
    """The image event beats the execution to Wait For Image: the recorded arrival is used."""
    commit = new_commit()
    digest = "sha256:" + "ab" * 32
    status, out = local.invoke("image-ready", ecr_event(commit, digest))
    assert status == 200 and out["resumed"] == []
    status, reply = local.push(commit, repository="acme/quick", branch="develop")
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert task_definition_image(local, reply["execution_arn"])["digest"] == digest


def test_a_failed_push_fails_the_deployment_with_its_reason(local):
    commit = new_commit()
    deployment_id, arn = parked(local, commit, repository="acme/quick", branch="develop")
    status, out = local.invoke("image-ready", ecr_event(commit, None, result="FAILURE"))
    assert status == 200, out
    desc = local.follow(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "ImageFailed"
    assert "FAILURE" in desc["cause"]
    record = local.deployment("quick", "staging", deployment_id)
    assert record["status"] == "FAILED" and record["error"] == "ImageFailed"


def test_a_timeout_says_what_was_awaited(local):
    commit = new_commit()
    status, reply = local.push(commit, repository="acme/quick", branch="develop")
    desc = local.follow(reply["execution_arn"], timeout=60)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "ImageTimedOut"
    assert f"quick:{commit}" in desc["cause"]
    assert "did not arrive within 4 s" in desc["cause"]
    assert "ECR repository \"quick\"" in desc["cause"]
    assert local.states(reply["execution_arn"])[-3:] == ["Record Failure", "Report Failure", "Deployment Failed"]


def test_an_unrelated_image_changes_nothing(local):
    commit = new_commit()
    deployment_id, arn = parked(local, commit, repository="acme/quick", branch="develop")
    status, out = local.invoke("image-ready", ecr_event(new_commit(), "sha256:" + "cd" * 32))
    assert status == 200 and out["resumed"] == []
    # A repository no app deploys from: acknowledged, not recorded.
    status, out = local.invoke("image-ready", ecr_event(commit, "sha256:" + "ce" * 32, repository="nobody"))
    assert status == 200 and "no registered app" in out["ignored"], out
    assert local.item(f"IMAGE#{out['image']}", "ARRIVAL") is None
    time.sleep(1)
    assert local.c("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_malformed_image_events_are_refused_clearly(local):
    status, out = local.invoke("image-ready", {"hello": "world"})
    assert status == 500
    assert out["errorType"] == "InvalidInput"
    assert "ECR Image Action" in out["errorMessage"]


def test_a_ghcr_image_announced_by_a_package_event_resumes_its_deployment(local):
    commit = new_commit()
    deployment_id, arn = parked(local, commit, repository="acme/ghapp")
    sample = json.loads(json.loads((ROOT / "events" / "webhook.package.json").read_text())["body"])
    digest = "sha256:" + "9f" * 32
    sample["repository"]["full_name"] = "acme/ghapp"
    sample["package"].update({"name": "ghapp", "namespace": "acme"})
    sample["package"]["package_version"].update({"version": digest, "container_metadata": {"tag": {"name": commit, "digest": digest}}})
    status, out = local.post("package", sample)
    assert status == 200, out
    assert "resumed" in out, out
    assert out["resumed"] == [deployment_id]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert json.loads(desc["output"])["image"] == f"ghcr.io/acme/ghapp@{digest}"


def test_two_environments_waiting_on_one_image_are_both_resumed(local):
    commit = new_commit()
    arns = []
    for branch in ("develop", "qa"):
        arns.append(parked(local, commit, repository="acme/quick", branch=branch)[1])
    time.sleep(1)
    digest = local.put_image("quick", commit)
    status, out = local.invoke("image-ready", ecr_event(commit, digest))
    assert status == 200, out
    assert len(out["resumed"]) == 2, out
    for arn in arns:
        desc = local.follow(arn)
        assert desc["status"] == "SUCCEEDED", desc.get("cause")
        assert task_definition_image(local, arn)["digest"] == digest


# --- Docker Hub: a hook on a secret path, no digest in it; the registry says which ---

def running_image(local, app, environment):
    """The image the environment's ECS service runs, from its task definition."""
    ecs = local.c("ecs")
    name = f"{app}-{environment}"
    (svc,) = ecs.describe_services(cluster=name, services=[name])["services"]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    return td["containerDefinitions"][0]["image"]


def test_a_docker_hub_push_resumes_its_deployment_with_the_digest_pinned(local):
    commit = new_commit()
    deployment_id, arn = parked(local, commit, repository="acme/hubapp")
    time.sleep(1)
    assert local.c("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"

    digest = local.push_docker_hub("acme/hubapp", commit)
    started = time.time()
    status, out = local.docker_hub_hook(stk.docker_hub_hook("acme/hubapp", commit))
    assert status == 200, out
    assert out["resumed"] == [deployment_id]
    assert out["digest"] == digest
    local.wait_state(arn, "Provision Network")
    print(f"Docker Hub hook -> execution left Wait For Image in {time.time() - started:.2f}s")
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert task_definition_image(local, arn) == {"uri": f"docker.io/acme/hubapp@{digest}", "digest": digest, "waited": True}
    assert running_image(local, "hubapp", "production") == f"docker.io/acme/hubapp@{digest}"

    # The tag moves afterwards: what runs does not.
    local.push_docker_hub("acme/hubapp", commit + "-moved")
    assert running_image(local, "hubapp", "production") == f"docker.io/acme/hubapp@{digest}"


def test_a_docker_hub_image_pushed_before_the_wait_is_read_from_the_registry(local):
    """The hook came (or was lost) before the deployment: the registry is asked first."""
    commit = new_commit()
    digest = local.push_docker_hub("acme/hubapp", commit)
    status, reply = local.push(commit, repository="acme/hubapp")
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert task_definition_image(local, reply["execution_arn"]) == {
        "uri": f"docker.io/acme/hubapp@{digest}", "digest": digest, "waited": False}


def test_docker_hub_hooks_are_refused_or_ignored_clearly(local):
    commit = new_commit()
    deployment_id, arn = parked(local, commit, repository="acme/hubapp", branch="main")
    local.push_docker_hub("acme/hubapp", commit)
    hook = stk.docker_hub_hook("acme/hubapp", commit)

    status, out = local.docker_hub_hook(hook, token="not-the-token")
    assert status == 401 and "DockerHubHookTokenArn" in out["error"]
    status, out = local.docker_hub_hook(hook, token="")
    assert status == 401
    status, out = local.docker_hub_hook(b'{"push_data": ')
    assert status == 400 and "not JSON" in out["error"]
    status, out = local.docker_hub_hook(local.push_payload(commit))
    assert status == 400 and "Docker Hub webhook" in out["error"], out
    status, out = local.docker_hub_hook(stk.docker_hub_hook("acme/hubapp", ""))
    assert status == 200 and "without a tag" in out["ignored"]
    status, out = local.docker_hub_hook(stk.docker_hub_hook("someone/else", commit))
    assert status == 200 and "no registered app" in out["ignored"], out
    assert local.item(f"IMAGE#docker.io/someone/else:{commit}", "ARRIVAL") is None
    status, out = local.docker_hub_hook(stk.docker_hub_hook("acme/hubapp", new_commit()))
    assert status == 502 and "no such tag" in out["error"], out
    time.sleep(1)
    assert local.c("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"

    # The refusals lost nothing: the real hook still resumes it.
    status, out = local.docker_hub_hook(hook)
    assert status == 200 and out["resumed"] == [deployment_id], out
    assert local.follow(arn)["status"] == "SUCCEEDED"


def test_a_private_docker_hub_repository_fails_the_deployment_with_why(local):
    commit = new_commit()
    deployment_id, arn = parked(local, commit, repository="acme/hubprivate")
    local.push_docker_hub("acme/private-ledger", commit)
    status, out = local.docker_hub_hook(stk.docker_hub_hook("acme/private-ledger", commit))
    assert status == 200, out
    desc = local.follow(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "ImageFailed"
    assert "acme/private-ledger" in desc["cause"] and "must be public" in desc["cause"], desc["cause"]


def test_the_docker_hub_sample_event_is_answered(local):
    """`cargo lambda invoke image-ready --data-file events/image-ready.dockerhub.json`."""
    sample = json.loads((ROOT / "events" / "image-ready.dockerhub.json").read_text())
    status, out = local.invoke("image-ready", sample)
    assert status == 200, out
    assert out["statusCode"] == 200, out
    assert "no registered app" in json.loads(out["body"])["ignored"]
    sample["pathParameters"]["token"] = "wrong"
    status, out = local.invoke("image-ready", sample)
    assert status == 200 and out["statusCode"] == 401, out
