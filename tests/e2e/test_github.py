"""GitHub as the user's window: each deployment is reported to the local
stack's fake GitHub (scripts/emulator/github.py) as the stack's GitHub App: a
Deployment with statuses queued -> in_progress -> success/failure/inactive and
a commit status per environment. Reporting never fails or holds up a
deployment."""

import json
import time

import pytest

from conftest import deploy, new_app, new_commit, stk


def output(desc: dict) -> dict:
    return json.loads(desc["output"])


def calls(local) -> list[dict]:
    return stk.github(local.env, "GET", "/_calls")


def reports(local, repository: str, since: int) -> list[tuple[str, str, str]]:
    return stk.github_reports(local.env, repository, since)


@pytest.fixture
def gh(local):
    """The session's stack with the fake GitHub answering normally before and after."""
    stk.github(local.env, "DELETE", "/_faults")
    stk.github(local.env, "POST", "/_config", {"token_seconds": 3600})
    try:
        yield local
    finally:
        stk.github(local.env, "DELETE", "/_faults")
        stk.github(local.env, "POST", "/_config", {"token_seconds": 3600})


def test_a_push_is_reported_queued_in_progress_then_success_with_the_url(gh):
    app = new_app(gh, "ghok", "10.198.0.0/16")
    repo = f"acme/{app}"
    since = len(calls(gh))
    arn, desc = deploy(gh, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    url = json.loads(desc["output"])["url"]
    commit = gh.deployment(app, "production", json.loads(desc["output"])["deployment_id"])["commit"]

    assert reports(gh, repo, since) == [
        ("deployment", "production", commit),
        ("deployment status", "queued", f"Waiting to deploy {commit[:7]}"),
        ("commit status", "pending", "stepdeploy/production"),
        ("deployment status", "in_progress", f"Deploying {commit[:7]}"),
        ("commit status", "pending", "stepdeploy/production"),
        ("deployment status", "success", f"Deployed {commit[:7]}"),
        ("commit status", "success", "stepdeploy/production"),
    ]
    posted = [c for c in calls(gh)[since:] if c["method"] == "POST" and c["path"].startswith(f"/repos/{repo}/")]
    created = posted[0]["body"]
    assert created["payload"]["stepdeploy_deployment"] == json.loads(desc["output"])["deployment_id"]
    assert (created["production_environment"], created["transient_environment"], created["auto_merge"],
            created["required_contexts"]) == (True, False, False, [])
    success = [c["body"] for c in posted if c["body"].get("state") == "success"]
    assert success[0]["environment_url"] == url and arn in success[0]["log_url"], success
    assert success[1]["target_url"] == url
    # The execution's output is still the deployment's summary.
    assert output(desc)["status"] == "SUCCEEDED"


def test_a_failure_is_reported_with_its_cause(gh):
    """A deploy refused by preflight (the image listens on 5000, the spec on
    8000) fails; GitHub hears `failure` with the cause, cut to 140 characters."""
    app = new_app(gh, "ghfail", "10.199.0.0/16")
    commit = new_commit()
    gh.put_image(app, commit, exposed=(5000,))
    since = len(calls(gh))
    status, reply = gh.push(commit, repository=f"acme/{app}")
    assert status == 202, reply
    desc = gh.follow(reply["execution_arn"], timeout=120)
    assert desc["status"] == "FAILED" and desc["error"] == "InvalidInput", desc
    got = reports(gh, f"acme/{app}", since)
    assert [(w, s) for w, s, _ in got] == [
        ("deployment", "production"), ("deployment status", "queued"), ("commit status", "pending"),
        ("deployment status", "failure"), ("commit status", "failure")], got
    description = got[3][2]
    assert description.startswith("InvalidInput: preflight refused the deployment before any change: service.port"), description
    assert len(description) <= 140 and description.endswith("…"), description
    record = gh.deployment(app, "production", reply["deployment_id"])
    assert description.rstrip("…") in record["cause"], (record["cause"], description)


def test_a_superseded_push_is_reported_inactive(gh):
    """Push 1 could not start (Step Functions refusing it); push 2 deploys;
    GitHub's redelivery of push 1 is superseded: its Deployment goes inactive."""
    app = new_app(gh, "ghold", "10.200.0.0/16")
    repo = f"acme/{app}"
    old, new = new_commit(), new_commit()
    gh.put_image(app, old)
    gh.put_image(app, new)
    gh.arm_faults({"kind": "server_error", "service": "states", "action": "StartExecution", "count": 3, "contains": app})
    status, _ = gh.push(old, repository=repo, delivery=f"{app}-old")
    assert status == 503
    gh.clear_faults()
    status, newest = gh.push(new, repository=repo, delivery=f"{app}-new")
    assert gh.follow(newest["execution_arn"], timeout=300)["status"] == "SUCCEEDED"
    since = len(calls(gh))
    status, reply = gh.push(old, repository=repo, delivery=f"{app}-old")
    assert status == 200 and reply["duplicate"], reply
    desc = gh.follow(reply["execution_arn"])
    assert output(desc)["status"] == "SUPERSEDED"
    got = reports(gh, repo, since)
    assert [(w, s) for w, s, _ in got] == [("deployment", "production"), ("deployment status", "inactive"),
                                           ("commit status", "error")], got
    assert newest["deployment_id"] in got[1][2] or "newer" in got[1][2], got


def test_server_errors_and_rate_limits_are_retried_and_reports_still_arrive(gh):
    app = new_app(gh, "ghretry", "10.201.0.0/16")
    _, desc = deploy(gh, app)  # the environment exists: the next deploy is quick
    assert desc["status"] == "SUCCEEDED"
    since = len(calls(gh))
    stk.github(gh.env, "POST", "/_faults", {"status": 500, "count": 3})
    arn, desc = deploy(gh, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    states = [s for w, s, _ in reports(gh, f"acme/{app}", since) if w == "deployment status"]
    assert states == ["queued", "in_progress", "success"], states
    # A secondary rate limit (403 with retry-after) is waited out too.
    since = len(calls(gh))
    stk.github(gh.env, "POST", "/_faults", {"status": 403, "count": 2})
    _, desc = deploy(gh, app)
    assert desc["status"] == "SUCCEEDED"
    states = [s for w, s, _ in reports(gh, f"acme/{app}", since) if w == "deployment status"]
    assert states == ["queued", "in_progress", "success"], states


def test_github_down_for_the_whole_deployment_changes_nothing_about_it(gh):
    app = new_app(gh, "ghdown", "10.202.0.0/16")
    stk.github(gh.env, "POST", "/_faults", {"status": 500, "count": 100000})
    arn, desc = deploy(gh, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert json.loads(desc["output"])["url"]
    record = gh.deployment(app, "production", json.loads(desc["output"])["deployment_id"])
    assert record["status"] == "SUCCEEDED"
    assert {"Report Queued", "Report In Progress", "Report Result"} <= set(gh.states(arn))


def test_installation_tokens_are_minted_again_when_they_expire_and_never_logged(gh):
    app = new_app(gh, "ghtoken", "10.203.0.0/16")
    # GitHub stops taking every token minted so far (the App still holds one,
    # cached), and the tokens it mints from now on live two seconds: the
    # first report meets a 401 and mints another; each later one finds its
    # token too close to expiry to use, and mints another.
    stk.github(gh.env, "POST", "/_config", {"token_seconds": 2, "revoke": True})
    since = len(calls(gh))
    _, desc = deploy(gh, app)
    assert desc["status"] == "SUCCEEDED"
    mints = [c for c in calls(gh)[since:] if c["path"].endswith("/access_tokens")]
    assert len(mints) >= 3, mints
    states = [s for w, s, _ in reports(gh, f"acme/{app}", since) if w == "deployment status"]
    assert states == ["queued", "in_progress", "success"], states
    # No token (nor the App's key) in any log line of the Lambdas.
    log = (gh.dir / "lambdas.log").read_text(errors="replace")
    tokens = stk.github(gh.env, "GET", "/_tokens")
    assert tokens and [t for t in tokens if t in log] == []
    assert "PRIVATE KEY" not in log
    assert "installation token minted" in log


def test_a_teardown_marks_the_environments_deployment_inactive(gh):
    """A torn-down environment shows no live Deployment on GitHub: its
    successful one gets `inactive`, once."""
    app = new_app(gh, "ghgone", "10.204.0.0/16")
    _, desc = deploy(gh, app)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    repo = f"acme/{app}"
    created = [c for c in calls(gh) if c["method"] == "POST" and c["path"] == f"/repos/{repo}/deployments"]
    assert len(created) == 1, created
    since = len(calls(gh))
    arn = gh.c("stepfunctions").start_execution(
        stateMachineArn=gh.env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"], name=f"teardown-{app}-gh",
        input=json.dumps({"app": app, "environment": "production", "confirm": "production"}))["executionArn"]
    desc = gh.follow(arn, timeout=300)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert "Report Torn Down" in gh.states(arn)
    posted = [c for c in calls(gh)[since:] if c["method"] == "POST" and c["path"].startswith(f"/repos/{repo}/")]
    assert [(c["path"].split("/")[-1], c["body"]["state"], c["body"]["description"]) for c in posted] == [
        ("statuses", "inactive", "The environment was torn down")], posted
    # The Deployment the deploy reported success on is the one marked.
    success = [c["path"] for c in calls(gh)[:since] if c["method"] == "POST" and c["path"].startswith(f"/repos/{repo}/deployments/")
               and c["body"].get("state") == "success"]
    assert [posted[0]["path"]] == success, success
