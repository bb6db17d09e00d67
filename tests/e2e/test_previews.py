"""Previews on pull requests: opening one deploys its head branch's preview
and puts one comment on it, with the URL and status; every later report
edits that comment in place; closing (or merging) it tears the preview down,
marks its GitHub Deployments inactive and says so in the comment. A preview
with `previews.ttl_hours` comes down once that long passes without a push
(its EventBridge Scheduler schedule, which the emulator fires by a clock the
test moves on)."""

import calendar
import json
import time

from conftest import new_commit, stk
from inventory import counts, inventory


def pull_request(action: str, number: int, branch: str, commit: str, repository: str, merged: bool = False) -> dict:
    repo = {"full_name": repository}
    return {"action": action, "number": number,
            "pull_request": {"number": number, "merged": merged,
                             "head": {"ref": branch, "sha": commit, "repo": repo},
                             "base": {"ref": "main", "repo": repo}},
            "repository": repo, "sender": {"login": "octocat"}}


def comments(local, repository: str) -> list[dict]:
    return stk.github(local.env, "GET", f"/_comments?repository={repository}")


def schedules(local, app: str) -> list[dict]:
    """The app's preview expiry schedules, as Scheduler describes them."""
    scheduler, group = local.c("scheduler"), local.env["STEPDEPLOY_PREVIEW_SCHEDULE_GROUP"]
    listed = scheduler.list_schedules(GroupName=group, NamePrefix=f"{app}.")["Schedules"]
    return [scheduler.get_schedule(GroupName=group, Name=s["Name"]) for s in listed]


def fires_at(schedule: dict) -> int:
    """When a one-time schedule fires (its `at(...)`, UTC), in epoch seconds."""
    assert schedule["ScheduleExpressionTimezone"] == "UTC", schedule
    return calendar.timegm(time.strptime(schedule["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)"))


def teardowns_of(local, app: str) -> list[str]:
    """The teardown executions started for `app`, whoever started them."""
    sfn = local.c("stepfunctions")
    machine = local.env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"]
    return [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]
            if json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]).get("app") == app]


def open_preview(local, app: str, number: int, branch: str, cidr: str, ttl_hours: int) -> tuple[str, dict]:
    """Register `app` (acme/<app>, previews kept `ttl_hours`), push its image
    and open pull request `number` from `branch`: the commit and the
    webhook's reply (the preview's deployment started)."""
    stk.register_spec(local.c("dynamodb"), {"name": app, "repository": f"acme/{app}",
                                            "previews": {"enabled": True, "ttl_hours": ttl_hours},
                                            "network": {"cidr": cidr}})
    local.c("ecr").create_repository(repositoryName=app)
    commit = new_commit()
    local.put_image(app, commit)
    status, reply = local.post("pull_request", pull_request("opened", number, branch, commit, f"acme/{app}"))
    assert status == 202, reply
    return commit, reply


def test_a_pull_request_gets_a_preview_one_comment_and_a_teardown_when_merged(local):
    app, repository, branch = "ghpr", "acme/ghpr", "feature/login"
    first, reply = open_preview(local, app, 12, branch, "10.205.0.0/16", ttl_hours=72)
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
    [expiry] = schedules(local, app)
    assert expiry["Name"] == f"{app}.{environment}", expiry

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
    assert gone["id"] == comment["id"] and "torn down: the pull request was merged" in gone["body"], gone["body"]
    # Its expiry went with it: the teardown deleted the schedule, and says so.
    assert schedules(local, app) == []
    record = local.item(f"ENV#{app}#{environment}", f"TEARDOWN#{reply['execution_arn'].rsplit(':', 1)[-1]}")
    assert f"preview expiry schedule {app}.{environment}" in [r["S"] for r in record["removed"]], record
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


def test_a_preview_with_no_push_for_its_ttl_is_torn_down_and_each_push_moves_that_on(local):
    app, repository, branch = "ghttl", "acme/ghttl", "feature/idle"
    _, reply = open_preview(local, app, 21, branch, "10.206.0.0/16", ttl_hours=2)
    environment = reply["environment"]
    pushed = time.time()
    assert local.follow(reply["execution_arn"], timeout=300)["status"] == "SUCCEEDED"

    # One schedule, 2 h after the push, that starts the preview's teardown.
    [expiry] = schedules(local, app)
    at = fires_at(expiry)
    assert pushed - 60 < at - 2 * 3600 < time.time() + 1, (expiry, pushed)
    target = expiry["Target"]
    assert target["Arn"] == local.env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"], target
    assert target["RoleArn"] == local.env["STEPDEPLOY_PREVIEW_EXPIRY_ROLE_ARN"], target
    assert json.loads(target["Input"]) == {"app": app, "environment": environment,
                                           "trigger": {"kind": "preview-expired", "ttl_hours": 2}}, target
    assert expiry["ActionAfterCompletion"] == "DELETE", expiry

    try:
        # A push moves it on (replaced, not a second schedule). It comes 12 s
        # after the first, so the test can stop the clock between the two.
        time.sleep(max(0.0, at - 2 * 3600 + 12 - time.time()))
        second = new_commit()
        local.put_image(app, second)
        status, reply = local.push(second, branch=branch, repository=repository)
        assert status == 202 and reply["environment"] == environment, reply
        assert local.follow(reply["execution_arn"], timeout=300)["status"] == "SUCCEEDED"
        [moved] = schedules(local, app)
        later = fires_at(moved)
        assert later - at >= 10, (at, later)

        # The first push's expiry passes: nothing happens.
        stk.scheduler_clock(local.env, "POST", at + 1 - stk.scheduler_clock(local.env)["now"])
        time.sleep(2)  # the emulator's Scheduler looks twice a second
        assert teardowns_of(local, app) == [] and len(schedules(local, app)) == 1
        assert local.item(f"ENV#{app}#{environment}", "ENV")["status"] == "SUCCEEDED"

        # The second push's expiry passes: Scheduler starts the teardown, then deletes the schedule.
        stk.scheduler_clock(local.env, "POST", later + 1 - stk.scheduler_clock(local.env)["now"])
        deadline = time.time() + 30
        while not teardowns_of(local, app):
            assert time.time() < deadline, "the schedule never fired"
            time.sleep(0.5)
    finally:
        stk.scheduler_clock(local.env, "DELETE")
    [teardown] = teardowns_of(local, app)
    desc = local.follow(teardown, timeout=300)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    # Everything but its logs (kept unless a teardown asks for them).
    assert {k: n for k, n in counts(inventory(local, app, environment)).items() if n} == {"log group": 1}
    assert local.item(f"ENV#{app}#{environment}", "ENV")["status"] == "DESTROYED"
    assert schedules(local, app) == []
    [comment] = comments(local, repository)
    assert "torn down: no push for 2 h (previews.ttl_hours)" in comment["body"], comment["body"]
