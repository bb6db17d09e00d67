"""Wait For Image: parked on a task token, resumed by image-ready."""

import json
import time

from conftest import ROOT, new_commit


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


def test_a_deployment_parks_until_its_image_is_pushed(local):
    commit = new_commit()
    status, reply = local.push(commit, repository="acme/quick", branch="develop")
    assert status == 202
    arn = reply["execution_arn"]
    local.wait_state(arn, "Wait For Image")
    time.sleep(1)
    assert local.c("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert "Provision Network" not in local.states(arn)

    digest = local.put_image("quick", commit)
    started = time.time()
    status, out = local.invoke("image-ready", ecr_event(commit, digest))
    assert status == 200, out
    assert out["resumed"] == [reply["deployment_id"]]
    local.wait_state(arn, "Provision Network")
    resumed_after = time.time() - started
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    image = task_definition_image(local, arn)
    assert image["waited"] is True
    assert image["digest"] == digest
    assert image["uri"].endswith(f"/quick@{digest}")
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
    status, reply = local.push(commit, repository="acme/quick", branch="develop")
    local.wait_state(reply["execution_arn"], "Wait For Image")
    status, out = local.invoke("image-ready", ecr_event(commit, None, result="FAILURE"))
    assert status == 200, out
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "FAILED"
    assert desc["error"] == "ImageFailed"
    assert "FAILURE" in desc["cause"]
    record = local.deployment("quick", "staging", reply["deployment_id"])
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
    assert local.states(reply["execution_arn"])[-2:] == ["Record Failure", "Deployment Failed"]


def test_an_unrelated_image_changes_nothing(local):
    commit = new_commit()
    status, reply = local.push(commit, repository="acme/quick", branch="develop")
    arn = reply["execution_arn"]
    local.wait_state(arn, "Wait For Image")
    status, out = local.invoke("image-ready", ecr_event(new_commit(), "sha256:" + "cd" * 32))
    assert status == 200 and out["resumed"] == []
    time.sleep(1)
    assert local.c("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_malformed_image_events_are_refused_clearly(local):
    status, out = local.invoke("image-ready", {"hello": "world"})
    assert status == 500
    assert out["errorType"] == "InvalidInput"
    assert "ECR Image Action" in out["errorMessage"]


def test_a_ghcr_image_announced_by_a_package_event_resumes_its_deployment(local):
    commit = new_commit()
    status, reply = local.push(commit, repository="acme/ghapp")
    assert status == 202, reply
    arn = reply["execution_arn"]
    local.wait_state(arn, "Wait For Image")
    sample = json.loads(json.loads((ROOT / "events" / "webhook.package.json").read_text())["body"])
    digest = "sha256:" + "9f" * 32
    sample["repository"]["full_name"] = "acme/ghapp"
    sample["package"].update({"name": "ghapp", "namespace": "acme"})
    sample["package"]["package_version"].update({"version": digest, "container_metadata": {"tag": {"name": commit, "digest": digest}}})
    status, out = local.post("package", sample)
    assert status == 200, out
    assert "resumed" in out, out
    assert out["resumed"] == [reply["deployment_id"]]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert json.loads(desc["output"])["image"] == f"ghcr.io/acme/ghapp@{digest}"


def test_two_environments_waiting_on_one_image_are_both_resumed(local):
    commit = new_commit()
    arns = []
    for branch in ("develop", "qa"):
        status, reply = local.push(commit, repository="acme/quick", branch=branch)
        assert status == 202, reply
        local.wait_state(reply["execution_arn"], "Wait For Image")
        arns.append(reply["execution_arn"])
    time.sleep(1)
    digest = local.put_image("quick", commit)
    status, out = local.invoke("image-ready", ecr_event(commit, digest))
    assert status == 200, out
    assert len(out["resumed"]) == 2, out
    for arn in arns:
        desc = local.follow(arn)
        assert desc["status"] == "SUCCEEDED", desc.get("cause")
        assert task_definition_image(local, arn)["digest"] == digest
