"""Previews on pull requests: opening one deploys its head branch's preview
and puts one comment on it, with the URL and status; every later report
edits that comment in place; closing (or merging) it tears the preview down,
marks its GitHub Deployments inactive and says so in the comment."""

import json

from conftest import new_commit, stk


def pull_request(action: str, number: int, branch: str, commit: str, repository: str, merged: bool = False) -> dict:
    repo = {"full_name": repository}
    return {"action": action, "number": number,
            "pull_request": {"number": number, "merged": merged,
                             "head": {"ref": branch, "sha": commit, "repo": repo},
                             "base": {"ref": "main", "repo": repo}},
            "repository": repo, "sender": {"login": "octocat"}}


def comments(local, repository: str) -> list[dict]:
    return stk.github(local.env, "GET", f"/_comments?repository={repository}")


def test_a_pull_request_gets_a_preview_one_comment_and_a_teardown_when_merged(local):
    app, repository, branch = "ghpr", "acme/ghpr", "feature/login"
    stk.register_spec(local.c("dynamodb"), {"name": app, "repository": repository, "previews": {"enabled": True},
                                            "network": {"cidr": "10.205.0.0/16"}})
    local.c("ecr").create_repository(repositoryName=app)

    first = new_commit()
    local.put_image(app, first)
    status, reply = local.post("pull_request", pull_request("opened", 12, branch, first, repository))
    assert status == 202, reply
    environment = reply["environment"]
    assert environment.startswith("pr-feature-"), reply
    desc = local.follow(reply["execution_arn"], timeout=300)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    url = json.loads(desc["output"])["url"]
    [comment] = comments(local, repository)
    assert comment["issue"] == 12
    assert comment["body"].startswith(f"<!-- stepdeploy:{app}/{environment} -->"), comment["body"]
    assert f"`{first[:7]}` is live" in comment["body"] and url in comment["body"], comment["body"]
    pull = local.item(f"ENV#{app}#{environment}", "PULL")
    assert (int(pull["number"]), pull["open"]) == (12, True), pull

    # Its next commit arrives as a push to the branch: the same comment, edited.
    second = new_commit()
    local.put_image(app, second)
    status, reply = local.push(second, branch=branch, repository=repository)
    assert status == 202 and reply["environment"] == environment, reply
    assert local.follow(reply["execution_arn"], timeout=300)["status"] == "SUCCEEDED"
    [edited] = comments(local, repository)
    assert edited["id"] == comment["id"]
    assert f"`{second[:7]}` is live" in edited["body"], edited["body"]
    # GitHub's own "synchronize" for that push starts nothing more.
    status, reply = local.post("pull_request", pull_request("synchronize", 12, branch, second, repository))
    assert status == 200 and "deploys its new commit" in reply["ignored"], reply

    # Merged: the preview is torn down, GitHub shows it inactive, the comment says so.
    since = len(stk.github(local.env, "GET", "/_calls"))
    status, reply = local.post("pull_request", pull_request("closed", 12, branch, second, repository, merged=True))
    assert status == 202 and reply["teardown"] == environment, reply
    desc = local.follow(reply["execution_arn"], timeout=300)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    [gone] = comments(local, repository)
    assert gone["id"] == comment["id"] and "torn down" in gone["body"], gone["body"]
    inactive = [c for c in stk.github(local.env, "GET", "/_calls")[since:]
                if c["method"] == "POST" and "/deployments/" in c["path"] and c["body"].get("state") == "inactive"]
    # Both Deployments (a preview's are transient: GitHub leaves older ones live).
    assert len({c["path"] for c in inactive}) == 2, inactive
    assert local.item(f"ENV#{app}#{environment}", "PULL")["open"] is False


def test_a_pull_request_from_a_fork_deploys_nothing(local):
    payload = pull_request("opened", 13, "feature/evil", new_commit(), "stepdeploy-samples/flask-banking")
    payload["pull_request"]["head"]["repo"] = {"full_name": "evil/flask-banking"}
    status, reply = local.post("pull_request", payload)
    assert status == 200 and "from a fork" in reply["ignored"], reply
