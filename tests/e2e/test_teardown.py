"""Teardown removes everything an environment owns, and nothing else."""

import json

from conftest import new_commit
from inventory import inventory



def start_teardown(local, request, name):
    sfn = local.c("stepfunctions")
    return sfn.start_execution(stateMachineArn=local.env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"],
                               name=name, input=json.dumps(request))["executionArn"]


def deploy(local, commit, branch, repository="acme/quick"):
    repo = "bank" if repository.endswith("flask-banking") else "quick"
    local.put_image(repo, commit)
    status, reply = local.push(commit, branch=branch, repository=repository)
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    return reply


def tagged(local, app, environment):
    """Everything live carrying the environment's ownership tags, but its log
    group (kept unless the teardown asks for `delete_logs`)."""
    found = inventory(local, app, environment)
    return [i for kind, ids in found.items() if kind != "log group" for i in ids]


def make_decoys(local):
    """Untagged look-alikes, and a VPC carrying another app's tags."""
    ec2, ecs, elb = local.c("ec2"), local.c("ecs"), local.c("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(VpcId=vpc, GroupName="decoy", Description="decoy")["GroupId"]
    other = ec2.create_vpc(CidrBlock="10.98.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
        {"Key": "stepdeploy:app", "Value": "other"}, {"Key": "stepdeploy:environment", "Value": "staging"}]}])["Vpc"]["VpcId"]
    cluster = ecs.create_cluster(clusterName="quick-staging-decoy")["cluster"]["clusterArn"]
    tg = elb.create_target_group(Name="decoy-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    return {"vpc": vpc, "subnet": subnet, "sg": sg, "other": other, "cluster": cluster, "tg": tg}


def decoys_intact(local, d):
    ec2, ecs, elb = local.c("ec2"), local.c("ecs"), local.c("elbv2")
    assert {v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[d["vpc"], d["other"]])["Vpcs"]} == {d["vpc"], d["other"]}
    assert ec2.describe_subnets(SubnetIds=[d["subnet"]])["Subnets"]
    assert ec2.describe_security_groups(GroupIds=[d["sg"]])["SecurityGroups"]
    assert ecs.describe_clusters(clusters=[d["cluster"]])["clusters"][0]["status"] == "ACTIVE"
    assert elb.describe_target_groups(TargetGroupArns=[d["tg"]])["TargetGroups"]
    return 6


def test_teardown_removes_the_environment_and_nothing_else(local):
    deploy(local, new_commit(), "main")
    deploy(local, new_commit(), "develop")
    decoys = make_decoys(local)
    assert tagged(local, "quick", "staging")
    production_before = tagged(local, "quick", "production")
    assert production_before

    refused = start_teardown(local, {"app": "quick", "environment": "staging"}, "teardown-unconfirmed")
    desc = local.follow(refused)
    assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput"
    assert '"confirm": "staging"' in desc["cause"]
    assert tagged(local, "quick", "staging")

    arn = start_teardown(local, {"app": "quick", "environment": "staging", "confirm": "staging"}, "teardown-staging")
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    out = json.loads(desc["output"])
    assert any(r.startswith("NAT gateway") for r in out["removed"])
    assert any(r.startswith("Elastic IP") for r in out["removed"])
    assert any(r.startswith("RDS instance quick-staging-db (final snapshot") for r in out["removed"])
    assert any(r.startswith("task definition quick-staging:") for r in out["removed"])
    assert [s["resource"] for s in out["skipped"]] == ["log group /stepdeploy/quick/staging"]

    assert tagged(local, "quick", "staging") == []
    assert sorted(tagged(local, "quick", "production")) == sorted(production_before)
    assert decoys_intact(local, decoys) == 6
    env = local.item("ENV#quick#staging", "ENV")
    assert env["status"] == "DESTROYED"
    record = local.item("ENV#quick#staging", "TEARDOWN#teardown-staging")
    assert [x["S"] for x in record["removed"]] == out["removed"]

    again = local.follow(start_teardown(local, {"app": "quick", "environment": "staging", "confirm": "staging"}, "teardown-staging-again"))
    assert again["status"] == "SUCCEEDED"
    assert json.loads(again["output"])["removed"] == []


def test_teardown_of_a_half_deployed_environment_after_a_crash(local):
    """A rollout that fails leaves network, database, load balancer and a failed
    service; a teardown that crashed after two phases is run again and finishes."""
    deploy(local, new_commit(), "main")
    production_before = tagged(local, "quick", "production")
    sfn = local.c("stepfunctions")
    broken = {"app": "quick", "environment": "qa", "commit": new_commit(),
              "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/broken@sha256:" + "e" * 64}
    arn = sfn.start_execution(stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"],
                              name="broken-rollout", input=json.dumps(broken))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "ImagePullFailed"
    assert "ECS could not pull the image" in desc["cause"] and "CannotPullContainerError" in desc["cause"]
    assert tagged(local, "quick", "qa")

    # The first teardown "crashes" after removing the service and the load balancer.
    state = {"app": "quick", "environment": "qa", "preview": False, "delete_logs": False,
             "teardown_id": "crashed", "done": True, "removed": [], "skipped": []}
    for phase in ("service", "load_balancer"):
        status, state = local.invoke("teardown", {"phase": phase, "teardown": state})
        assert status == 200, state
    assert any(r.startswith("load balancer") for r in state["removed"])

    arn = start_teardown(local, {"app": "quick", "environment": "qa", "confirm": "qa", "delete_logs": True}, "teardown-after-crash")
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert tagged(local, "quick", "qa") == []
    assert sorted(tagged(local, "quick", "production")) == sorted(production_before)
    logs = local.c("logs").describe_log_groups(logGroupNamePrefix="/stepdeploy/quick/qa")["logGroups"]
    assert logs == []


def test_deleting_a_preview_branch_tears_down_that_preview_only(local):
    deploy(local, new_commit(), "feature/login", repository="stepdeploy-samples/flask-banking")
    deploy(local, new_commit(), "main", repository="stepdeploy-samples/flask-banking")
    production_before = tagged(local, "bank", "production")
    assert tagged(local, "bank", "pr-feature-df7c7")
    status, reply = local.post("delete", {"ref": "feature/login", "ref_type": "branch",
                                          "repository": {"full_name": "stepdeploy-samples/flask-banking"}})
    assert status == 202, reply
    assert reply["teardown"] == "pr-feature-df7c7"
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    out = json.loads(desc["output"])
    assert any(r == "RDS instance bank-pr-feature-df7c7-db" for r in out["removed"]), out["removed"]
    assert tagged(local, "bank", "pr-feature-df7c7") == []
    assert sorted(tagged(local, "bank", "production")) == sorted(production_before)


def test_no_deployment_starts_while_a_teardown_holds_the_environment(local):
    deploy(local, new_commit(), "uat")
    # A teardown that has begun (and, say, crashed): it holds the environment.
    status, state = local.invoke("teardown", {"phase": "begin", "teardown_id": "teardown-held",
                                              "request": {"app": "quick", "environment": "uat", "confirm": "uat"}})
    assert status == 200, state
    assert local.item("ENV#quick#uat", "LOCK")["holder"] == "teardown-held"

    commit = new_commit()
    local.put_image("quick", commit)
    status, reply = local.push(commit, branch="uat", repository="acme/quick")
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "FAILED" and desc["error"] == "Locked"
    assert "being torn down by teardown-held" in desc["cause"]
    record = local.deployment("quick", "uat", reply["deployment_id"])
    assert record["status"] == "REFUSED" and record["error"] == "Locked"

    # Running the teardown again takes the lock over, finishes, and lets go.
    done = local.follow(start_teardown(local, {"app": "quick", "environment": "uat", "confirm": "uat"}, "teardown-takes-over"))
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert "holder" not in local.item("ENV#quick#uat", "LOCK")
    # (A new commit with no image yet: it gets past Begin Deployment and waits.)
    status, reply = local.push(new_commit(), branch="uat", repository="acme/quick")
    assert status == 202, reply
    local.wait_state(reply["execution_arn"], "Wait For Image")
