"""A signed push deploys end to end: webhook -> deploy state machine -> Lambdas -> emulator."""

import json

from conftest import ROOT, new_commit

HAPPY_PATH = ["Begin Deployment", "Wait For Image", "Provision Network", "Network Ready?", "Record Result"]


def owned_vpcs(local, app, environment):
    return local.c("ec2").describe_vpcs(Filters=[
        {"Name": "tag:stepdeploy:app", "Values": [app]},
        {"Name": "tag:stepdeploy:environment", "Values": [environment]},
    ])["Vpcs"]


def test_push_deploys_end_to_end(local):
    commit = new_commit()
    digest = local.put_image("bank", commit)
    status, reply = local.push(commit)
    assert status == 202, reply
    assert reply["environment"] == "production"
    assert reply["execution_arn"].endswith(":" + reply["deployment_id"])

    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert local.states(reply["execution_arn"]) == HAPPY_PATH

    out = json.loads(desc["output"])
    assert out["deployment_id"] == reply["deployment_id"]
    assert out["image"].endswith("/bank@" + digest)

    record = local.deployment("bank", "production", reply["deployment_id"])
    assert record["status"] == "SUCCEEDED"
    assert record["commit"] == commit
    assert record["trigger"] == "push"
    assert record["image"] == out["image"]
    env = local.item("ENV#bank#production", "ENV")
    assert env["last_deployment"] == reply["deployment_id"]

    vpcs = owned_vpcs(local, "bank", "production")
    assert len(vpcs) == 1
    assert vpcs[0]["CidrBlock"] == "172.28.0.0/16"
    assert local.item("ENV#bank#production", "RES#vpc")["id"] == vpcs[0]["VpcId"]


def test_a_second_deploy_converges_and_creates_nothing(local):
    first, second = new_commit(), new_commit()
    for commit in (first, second):
        local.put_image("bank", commit)
    outputs = []
    for commit in (first, second, first):
        status, reply = local.push(commit)
        assert status == 202, reply
        desc = local.follow(reply["execution_arn"])
        assert desc["status"] == "SUCCEEDED", desc.get("cause")
        outputs.append(json.loads(desc["output"]))
    assert all(o["created"] == [] for o in outputs[1:]), outputs
    assert len({o["vpc_id"] for o in outputs}) == 1
    assert len(owned_vpcs(local, "bank", "production")) == 1


def test_console_input_deploys(local):
    request = json.loads((ROOT / "events" / "deploy.manual.json").read_text())
    local.put_image("bank", request["commit"])
    sfn = local.c("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"],
                              name="manual-console-start", input=json.dumps(request))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    record = local.deployment("bank", "production", "manual-console-start")
    assert record["status"] == "SUCCEEDED"
    assert record["trigger"] == "manual"


def test_a_bad_request_is_refused_with_what_to_fix(local):
    sfn = local.c("stepfunctions")
    cases = [
        ({"app": "bank", "environment": "staging", "commit": new_commit()}, "no environment \"staging\""),
        ({"app": "nope", "environment": "production", "commit": new_commit()}, "not registered"),
        ({"app": "bank", "environment": "production", "commit": "HEAD"}, "40-character"),
        ({"app": "bank", "environment": "production", "commit": new_commit(), "comit": "x"}, "unknown field `comit`"),
    ]
    for i, (request, why) in enumerate(cases):
        arn = sfn.start_execution(stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"],
                                  name=f"refused-{i}", input=json.dumps(request))["executionArn"]
        desc = local.follow(arn)
        assert desc["status"] == "FAILED"
        assert desc["error"] == "InvalidInput", desc
        assert why in desc["cause"], desc["cause"]
        assert local.states(arn) == ["Begin Deployment", "Explain Refusal", "Request Refused"]
