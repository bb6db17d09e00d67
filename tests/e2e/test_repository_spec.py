"""The app spec in the repository: `.stepdeploy.toml` at the pushed commit,
read through GitHub's contents API (the local fake) as the stack's GitHub
App. The same fields and checks as a registered spec; the operator's limits
bound both; a file that is not valid fails before any AWS change, with the
reason on the commit."""

import json

from conftest import call_count, mutating_calls, new_app, new_commit, stk
from test_image import ecr_event, parked


def put_file(local, repository: str, commit: str, text: str) -> None:
    stk.put_repository_file(local.env, repository, commit, text)


def github_calls(local, since: int) -> list[dict]:
    return stk.github(local.env, "GET", "/_calls")[since:]


def commit_statuses(local, repository: str, commit: str, since: int) -> list[dict]:
    return [c["body"] for c in github_calls(local, since)
            if c["method"] == "POST" and c["path"] == f"/repos/{repository}/statuses/{commit}"]


def push(local, repository: str, commit: str, branch: str = "main") -> tuple[dict, dict]:
    status, reply = local.push(commit, repository=repository, branch=branch)
    assert status == 202, reply
    return reply, local.follow(reply["execution_arn"], timeout=300)


def desired_count(local, app: str) -> int:
    svc = local.c("ecs").describe_services(cluster=f"{app}-production", services=[f"{app}-production"])["services"]
    return svc[0]["desiredCount"]


FILE = """
[[environments]]
name = "production"
branch = "main"

[network]
cidr = "10.201.0.0/16"

[service]
desired_count = {count}
"""


def test_a_repository_deploys_by_its_file_at_each_commit(local):
    """No spec registered: the push starts a deployment that reads the file
    at its commit, takes its app name (from the repository's name) and
    routes the branch by it; the next commit's file changes what runs."""
    repository, app = "acme/Shop-Front", "shopfront"
    local.c("ecr").create_repository(repositoryName=app)
    since = len(github_calls(local, 0))
    commit = new_commit()
    put_file(local, repository, commit, FILE.format(count=1))
    local.put_image(app, commit)
    reply, desc = push(local, repository, commit)
    assert (reply["app"], reply["environment"]) == ("", ""), reply
    assert ".stepdeploy.toml" in reply["spec"]
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    out = json.loads(desc["output"])
    assert (out["app"], out["environment"]) == (app, "production"), out
    states = local.states(reply["execution_arn"])
    assert states[:2] == ["Read Spec", "Begin Deployment"], states
    read = [c["path"] for c in github_calls(local, since) if c["method"] == "GET" and "/contents/" in c["path"]]
    assert read == [f"/repos/{repository}/contents/.stepdeploy.toml?ref={commit}"], read
    assert desired_count(local, app) == 1
    owner = local.item("APPS", f"REPO#{app}")
    assert (owner["repository"], owner["commit"]) == ("acme/shop-front", commit), owner
    assert [s["state"] for s in commit_statuses(local, repository, commit, since)] == ["pending", "pending", "success"]

    # The spec that deploys is the one at the commit. Its image comes after
    # the push: the ECR push event finds the app by its file's spec.
    second = new_commit()
    put_file(local, repository, second, FILE.format(count=2))
    deployment_id, arn = parked(local, second, repository=repository)
    digest = local.put_image(app, second)
    # EventBridge's ECR push event, as the rule hands it to image-ready.
    status, out = local.invoke("image-ready", ecr_event(second, digest, repository=app))
    assert status == 200 and out.get("resumed") == [deployment_id], out
    desc = local.follow(arn, timeout=300)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert desired_count(local, app) == 2

    # GitHub down: an app that deploys from its file is not deployed with
    # any other spec; the deployment is refused, nothing changes.
    down = new_commit()
    local.put_image(app, down)
    stk.github(local.env, "POST", "/_faults", {"status": 500, "count": 1000})
    try:
        before = call_count(local)
        _, desc = push(local, repository, down)
    finally:
        stk.github(local.env, "DELETE", "/_faults")
    assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput", desc
    assert desc["cause"].startswith(f"could not read .stepdeploy.toml at {down[:7]} from {repository} on GitHub"), desc["cause"]
    assert mutating_calls(local, before) == []
    assert desired_count(local, app) == 2

    # Another repository's file cannot take the name (nor its environments).
    intruder, third = "evil/shopfront", new_commit()
    put_file(local, intruder, third, FILE.format(count=1))
    before = call_count(local)
    _, desc = push(local, intruder, third)
    assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput", desc
    assert 'the app name "shopfront" in .stepdeploy.toml is taken by acme/shop-front' in desc["cause"], desc["cause"]
    assert mutating_calls(local, before) == []
    assert desired_count(local, app) == 2


def test_an_invalid_file_fails_before_any_change_with_the_field_on_the_commit(local):
    repository = "acme/badfile"
    for text, field in [
        ("[service]\ncpu = 300\n", ".stepdeploy.toml is not valid: service.cpu 300 with service.memory 1024 is not a Fargate size"),
        ('[service]\nport = "eighty"\n', ".stepdeploy.toml is not valid: service.port: invalid type: string \"eighty\""),
        ("[servce]\nport = 8000\n", ".stepdeploy.toml is not valid: servce: unknown field `servce`"),
    ]:
        commit = new_commit()
        put_file(local, repository, commit, text)
        before, since = call_count(local), len(github_calls(local, 0))
        reply, desc = push(local, repository, commit)
        assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput", desc
        assert desc["cause"].startswith(field), desc["cause"]
        assert mutating_calls(local, before) == []
        assert "Report Refusal" in local.states(reply["execution_arn"])
        statuses = commit_statuses(local, repository, commit, since)
        assert len(statuses) == 1, statuses
        assert (statuses[0]["state"], statuses[0]["context"]) == ("failure", "stepdeploy")
        assert statuses[0]["description"].startswith(field[:60]) and len(statuses[0]["description"]) <= 140
        assert reply["execution_arn"] in statuses[0]["target_url"]


def test_a_field_over_the_operators_limit_is_refused(local):
    """The stack's MaxDesiredCount (10 here, as template.yaml's default)
    bounds every spec: a file asking for 11 tasks is refused, recorded and
    reported on the commit, and nothing is made."""
    app = new_app(local, "fileover", "10.202.0.0/16")
    repository, commit = f"acme/{app}", new_commit()
    put_file(local, repository, commit, "[service]\ndesired_count = 11\n[network]\ncidr = \"10.202.0.0/16\"\n")
    local.put_image(app, commit)
    before, since = call_count(local), len(github_calls(local, 0))
    reply, desc = push(local, repository, commit)
    assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput", desc
    assert desc["cause"].startswith(
        ".stepdeploy.toml asks for more than this deployer allows: service.desired_count 11 is over this deployer's limit of 10 (MaxDesiredCount)"), desc["cause"]
    assert mutating_calls(local, before) == []
    record = local.deployment(app, "production", reply["deployment_id"])
    assert record["status"] == "REFUSED" and "MaxDesiredCount" in record["cause"], record
    statuses = commit_statuses(local, repository, commit, since)
    assert [(s["state"], s["context"]) for s in statuses] == [("failure", "stepdeploy/production")], statuses


def test_a_repository_without_the_file_or_a_registered_spec_is_ignored(local):
    repository, commit = "someone/else", new_commit()
    since = len(github_calls(local, 0))
    reply, desc = push(local, repository, commit)
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"]) == {
        "ignored": f"someone/else has no .stepdeploy.toml at {commit[:7]} and no app spec is registered for it"}
    assert local.states(reply["execution_arn"])[-1] == "Not For Stepdeploy"
    posted = [c for c in github_calls(local, since) if c["method"] == "POST"]
    assert posted == [], posted
