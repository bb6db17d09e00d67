"""One deployment at a time per environment, the newest push wins, and a
teardown really ends an environment: the lease, on a stack that polls every
second while ECS rollouts take longer than that (as on AWS)."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

import local_stack as stk
import stack as cli
from conftest import Local, calls_since, call_count, deploy, is_mutating, new_app, new_commit
from inventory import counts, inventory

POLL_SECONDS = 1
ROLLOUT_SECONDS = 3

# The states that change AWS (a Parallel state's branches count as the Parallel).
MUTATING = {"Provision Network", "Provision Database And Load Balancer", "Provision Service"}
BRANCH_STATES = {"Provision Database", "Database Ready?", "Wait For Database", "Database Done",
                 "Provision Load Balancer", "Load Balancer Ready?", "Wait For Load Balancer", "Load Balancer Done"}
TEARDOWN_MUTATING = {"Remove Service", "Remove Load Balancer", "Remove Database", "Remove Network", "Finish Teardown"}


@pytest.fixture(scope="module")
def slow(tmp_path_factory) -> Local:
    """A stack of its own whose state machines wait a second between polls."""
    state_dir = tmp_path_factory.mktemp("slow-stack")
    stack = stk.Stack(state_dir)
    try:
        env = stack.up(port=None, lambda_port=None, poll_seconds=POLL_SECONDS, build=False, reload=False)
        local = Local(env)
        local.arm_faults({"kind": "rollout_seconds", "value": ROLLOUT_SECONDS})
        yield local
    finally:
        stack.down()


@contextlib.contextmanager
def rolling_out(local: Local, app: str, seconds: int):
    """A deployment of a new commit holding the environment while its rollout
    takes `seconds`: its push's reply."""
    local.arm_faults({"kind": "rollout_seconds", "value": seconds})
    try:
        commit = new_commit()
        local.put_image(app, commit)
        status, reply = local.push(commit, repository=f"acme/{app}")
        assert status == 202, reply
        local.wait_state(reply["execution_arn"], "Wait For Service", timeout=120)
        yield reply
    finally:
        local.arm_faults({"kind": "rollout_seconds", "value": ROLLOUT_SECONDS})


def preview_app(local: Local, name: str, cidr: str) -> str:
    stk.register_spec(local.c("dynamodb"), {"name": name, "repository": f"acme/{name}", "network": {"cidr": cidr},
                                            "previews": {"enabled": True}})
    local.c("ecr").create_repository(repositoryName=name)
    return name


def intervals(local: Local, arn: str, mutating: set[str]) -> list[tuple[float, float, str]]:
    """When the execution was inside a state that changes AWS: from entering
    it to entering the next top-level state (or the execution's end)."""
    events = local.history(arn)
    end = events[-1]["timestamp"].timestamp()
    entered = [(e["timestamp"].timestamp(), e["stateEnteredEventDetails"]["name"]) for e in events
               if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] not in BRANCH_STATES]
    out = []
    for i, (at, name) in enumerate(entered):
        if name in mutating:
            until = entered[i + 1][0] if i + 1 < len(entered) else end
            out.append((at, until, arn.rsplit(":", 1)[-1]))
    return out


def assert_never_two_at_once(spans: list[tuple[float, float, str]]) -> None:
    spans = sorted(spans)
    for (a_start, a_end, a), (b_start, b_end, b) in zip(spans, spans[1:]):
        assert a == b or b_start >= a_end, f"{a} was changing the environment until {a_end} when {b} started at {b_start}"


def entered_at(local: Local, arn: str, state: str) -> float:
    """When the execution first entered `state`."""
    return next(e["timestamp"].timestamp() for e in local.history(arn)
                if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state)


def started_rollout(local: Local, arn: str) -> bool:
    """Whether a poll of Provision Service in this execution started a rollout."""
    for e in local.history(arn):
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "Provision Service":
            if json.loads(e["stateExitedEventDetails"]["output"]).get("service", {}).get("started_rollout"):
                return True
    return False


def revisions(local: Local, family: str) -> int:
    return len(local.c("ecs").list_task_definitions(familyPrefix=family, maxResults=100)["taskDefinitionArns"])


def running_image(local: Local, name: str) -> str:
    ecs = local.c("ecs")
    [svc] = ecs.describe_services(cluster=name, services=[name])["services"]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    return td["containerDefinitions"][0]["image"]


def output(desc: dict) -> dict:
    return json.loads(desc["output"])


def test_the_newest_of_six_quick_pushes_wins_and_no_two_change_the_environment_at_once(slow):
    app = new_app(slow, "six", "10.191.0.0/16")
    first_arn, first = deploy(slow, app)
    assert first["status"] == "SUCCEEDED", first.get("cause")
    before = revisions(slow, f"{app}-production")

    commits = [new_commit() for _ in range(6)]
    digests = [slow.put_image(app, c) for c in commits]
    started = time.time()
    replies = []
    for c in commits:
        status, reply = slow.push(c, repository=f"acme/{app}")
        assert status == 202, reply
        replies.append(reply)
        time.sleep(0.3)
    # `make status` shows who holds the environment and the queue behind it.
    deadline, shown = time.time() + 10, []
    while time.time() < deadline and not any("held by" in line for line in shown):
        shown = cli.environment_lines(slow.env)
    assert any(line.startswith(f"{app}/production: ") for line in shown), shown
    assert any("held by" in line for line in shown) and any("  queue #" in line for line in shown), shown
    descs = [slow.follow(r["execution_arn"], timeout=300) for r in replies]
    settled = time.time() - started

    # Every execution ends well; every deployment in one terminal status.
    assert [d["status"] for d in descs] == ["SUCCEEDED"] * 6, [d.get("cause") for d in descs]
    records = [slow.deployment(app, "production", r["deployment_id"]) for r in replies]
    statuses = [r["status"] for r in records]
    assert statuses[-1] == "SUCCEEDED", records[-1]
    assert set(statuses[:-1]) <= {"SUCCEEDED", "SUPERSEDED"}, statuses
    assert [output(d)["status"] for d in descs] == statuses
    seqs = [int(r["seq"]) for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6, seqs
    for r in records:
        if r["status"] == "SUPERSEDED":
            assert "superseded by a newer push" in r["cause"], r

    # The service runs the last commit and the environment's record says so.
    assert running_image(slow, f"{app}-production").endswith("@" + digests[-1])
    env = slow.item(f"ENV#{app}#production", "ENV")
    assert (env["commit"], env["last_deployment"], env["status"]) == (commits[-1], replies[-1]["deployment_id"], "SUCCEEDED")
    assert "holder" not in slow.item(f"ENV#{app}#production", "LOCK")

    # Never two executions inside a state that changes the environment.
    arns = [first_arn] + [r["execution_arn"] for r in replies]
    assert_never_two_at_once([s for arn in arns for s in intervals(slow, arn, MUTATING)])

    # No revision registered for a deployment that did not roll out.
    rolled_out = sum(started_rollout(slow, r["execution_arn"]) for r in replies)
    registered = revisions(slow, f"{app}-production") - before
    assert 1 <= registered <= rolled_out, (registered, rolled_out)
    print(f"six pushes 0.3 s apart: settled in {settled:.1f} s, {registered} task definition revisions, "
          f"{rolled_out} rolled out, {statuses.count('SUPERSEDED')} superseded, statuses {statuses}")


def test_a_push_during_a_rollout_supersedes_it_at_its_next_poll_and_waits_for_the_environment(slow):
    """Each push arrives while the one before is rolling out: the older stops
    at its next poll of Provision Service, the newer waits (QUEUED, naming the
    holder) until it has, then rolls out; never both at once."""
    app = new_app(slow, "roll", "10.196.0.0/16")
    first_arn, _ = deploy(slow, app)
    before = revisions(slow, f"{app}-production")
    slow.arm_faults({"kind": "rollout_seconds", "value": 8})
    try:
        commits = [new_commit() for _ in range(3)]
        digests = [slow.put_image(app, c) for c in commits]
        replies, waited = [], []
        for c in commits:
            status, reply = slow.push(c, repository=f"acme/{app}")
            assert status == 202, reply
            if replies:
                # The newer one queues behind the holder and says so, unless
                # the holder stopped (at its next poll) before the newer one
                # asked for the environment: then it takes it at once.
                deadline = time.time() + 30
                record = {}
                while time.time() < deadline and not record.get("waiting_for"):
                    record = slow.deployment(app, "production", reply["deployment_id"]) or {}
                    if (record.get("status") not in (None, "QUEUED", "IN_PROGRESS")
                            or "Report In Progress" in slow.states(reply["execution_arn"])):
                        break
                    time.sleep(0.1)
                waited.append(record.get("waiting_for", ""))
            replies.append(reply)
            slow.wait_state(reply["execution_arn"], "Wait For Service", timeout=120)
        descs = [slow.follow(r["execution_arn"], timeout=300) for r in replies]
    finally:
        slow.arm_faults({"kind": "rollout_seconds", "value": ROLLOUT_SECONDS})
    assert [output(d)["status"] for d in descs] == ["SUPERSEDED", "SUPERSEDED", "SUCCEEDED"], descs
    for older, newer, w in zip(replies, replies[1:], waited):
        # Queued naming the holder, or asked only once the holder had stopped.
        assert older["deployment_id"] in w or (
            entered_at(slow, older["execution_arn"], "Record Stopped")
            <= entered_at(slow, newer["execution_arn"], "Acquire Lease")), (older, w)
    assert running_image(slow, f"{app}-production").endswith("@" + digests[-1])
    arns = [first_arn] + [r["execution_arn"] for r in replies]
    assert_never_two_at_once([s for arn in arns for s in intervals(slow, arn, MUTATING)])
    rolled_out = sum(started_rollout(slow, r["execution_arn"]) for r in replies)
    assert rolled_out == 3 and revisions(slow, f"{app}-production") - before == 3


def test_older_pushes_delivered_late_are_superseded_without_touching_aws(slow):
    """Pushes 1 and 2 could not start (Step Functions failing); push 3 deploys;
    then GitHub's redeliveries of 2 and 1 arrive, in that order: each keeps
    its place in the order and ends SUPERSEDED, changing nothing."""
    app = new_app(slow, "late", "10.192.0.0/16")
    commits = [new_commit() for _ in range(3)]
    digests = [slow.put_image(app, c) for c in commits]
    for i in (0, 1):
        slow.arm_faults({"kind": "server_error", "service": "states", "action": "StartExecution", "count": 3,
                         "contains": app})
        status, reply = slow.push(commits[i], repository=f"acme/{app}", delivery=f"{app}-{i}")
        assert status == 503, reply
    status, newest = slow.push(commits[2], repository=f"acme/{app}", delivery=f"{app}-2")
    assert status == 202, newest
    assert slow.follow(newest["execution_arn"], timeout=300)["status"] == "SUCCEEDED"

    for i in (1, 0):
        before = call_count(slow)
        status, reply = slow.push(commits[i], repository=f"acme/{app}", delivery=f"{app}-{i}")
        assert status == 200 and reply["duplicate"], reply
        desc = slow.follow(reply["execution_arn"])
        assert desc["status"] == "SUCCEEDED" and output(desc)["status"] == "SUPERSEDED", desc
        assert [c for c in calls_since(slow, before) if is_mutating(c)] == []
        states = slow.states(reply["execution_arn"])
        assert "Wait For Image" not in states and "Acquire Lease" not in states, states
        record = slow.deployment(app, "production", reply["deployment_id"])
        assert record["status"] == "SUPERSEDED" and newest["deployment_id"] in record["cause"], record
        assert int(record["seq"]) < int(slow.deployment(app, "production", newest["deployment_id"])["seq"])
    assert running_image(slow, f"{app}-production").endswith("@" + digests[2])
    assert slow.item(f"ENV#{app}#production", "ENV")["commit"] == commits[2]


def test_a_teardown_stops_a_running_deployment_refuses_pushes_meanwhile_and_a_later_push_recreates(slow):
    app = new_app(slow, "during", "10.193.0.0/16")
    deploy(slow, app)
    with rolling_out(slow, app, 30) as running:
        teardown_arn = slow.c("stepfunctions").start_execution(
            stateMachineArn=slow.env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"], name=f"teardown-{app}",
            input=json.dumps({"app": app, "environment": "production", "confirm": "production"}))["executionArn"]
        # A push while the teardown runs is refused: it would rebuild what is being removed.
        late = new_commit()
        slow.put_image(app, late)
        # Entering `Begin Teardown` is not its write: wait for the lease to
        # record the teardown, or the push could come first and be cancelled.
        deadline = time.time() + 60
        while not (slow.item(f"ENV#{app}#production", "LOCK") or {}).get("teardown_state"):
            assert time.time() < deadline, "the teardown never took its place in the lease"
            time.sleep(0.2)
        status, refused = slow.push(late, repository=f"acme/{app}")
        assert status == 202, refused
        desc = slow.follow(refused["execution_arn"])
        assert desc["status"] == "FAILED" and desc["error"] == "Locked", desc
        assert slow.deployment(app, "production", refused["deployment_id"])["status"] == "REFUSED"

        stopped = slow.follow(running["execution_arn"], timeout=120)
        assert stopped["status"] == "SUCCEEDED" and output(stopped)["status"] == "CANCELLED", stopped
        assert f"teardown-{app}" in output(stopped)["cause"]
        done = slow.follow(teardown_arn, timeout=300)
        assert done["status"] == "SUCCEEDED", done.get("cause")
        # The teardown changed nothing while the deployment was still in a changing state.
        assert_never_two_at_once(intervals(slow, running["execution_arn"], MUTATING)
                                 + intervals(slow, teardown_arn, TEARDOWN_MUTATING))
    left = {k: n for k, n in counts(inventory(slow, app)).items() if n}
    assert left == {"log group": 1}, left

    # A new push after the teardown recreates the environment.
    _, desc = deploy(slow, app)
    assert desc["status"] == "SUCCEEDED" and output(desc)["status"] == "SUCCEEDED", desc.get("cause")
    assert slow.item(f"ENV#{app}#production", "ENV")["commit"] == output(desc)["commit"]


def test_a_parked_preview_is_cancelled_by_its_branch_deletion_and_its_late_image_builds_nothing(slow):
    app = preview_app(slow, "parkd", "10.194.0.0/16")
    commit = new_commit()
    status, reply = slow.push(commit, branch="feature/parked", repository=f"acme/{app}")
    assert status == 202, reply
    environment, arn = reply["environment"], reply["execution_arn"]
    slow.wait_state(arn, "Wait For Image")
    key = f"{slow.c('sts').get_caller_identity()['Account']}.dkr.ecr.us-east-1.amazonaws.com/{app}:{commit}"
    deadline = time.time() + 60
    while slow.item(f"IMAGE#{key}", f"WAIT#{reply['deployment_id']}") is None:
        assert time.time() < deadline, "never parked"
        time.sleep(0.2)

    status, gone = slow.post("delete", {"ref": "feature/parked", "ref_type": "branch",
                                        "repository": {"full_name": f"acme/{app}"}})
    assert status == 202 and gone["teardown"] == environment, gone
    assert slow.follow(gone["execution_arn"], timeout=300)["status"] == "SUCCEEDED"
    desc = slow.follow(arn)
    assert desc["status"] == "SUCCEEDED" and output(desc)["status"] == "CANCELLED", desc
    record = slow.deployment(app, environment, reply["deployment_id"])
    assert record["status"] == "CANCELLED" and gone["execution_arn"].rsplit(":", 1)[-1] in record["cause"], record
    assert slow.item(f"IMAGE#{key}", f"WAIT#{reply['deployment_id']}") is None

    # CI pushes the image afterwards: nobody waits for it, nothing is built.
    digest = slow.put_image(app, commit)
    event = json.loads((stk.ROOT / "events" / "image-ready.ecr-push.json").read_text())
    event["detail"].update({"image-tag": commit, "image-digest": digest, "repository-name": app, "result": "SUCCESS"})
    status, out = slow.invoke("image-ready", event)
    assert status == 200 and not out.get("resumed"), out
    time.sleep(3)
    assert {k: n for k, n in counts(inventory(slow, app, environment)).items() if n} == {}
    assert [e["status"] for e in slow.executions(reply["deployment_id"])] == ["SUCCEEDED"]


def test_an_execution_aborted_while_holding_the_environment_does_not_block_the_next_push(slow):
    app = new_app(slow, "abort", "10.195.0.0/16")
    deploy(slow, app)
    with rolling_out(slow, app, 600) as held:
        assert slow.item(f"ENV#{app}#production", "LOCK")["holder"] == held["deployment_id"]
        slow.c("stepfunctions").stop_execution(executionArn=held["execution_arn"], error="Aborted", cause="by hand")

    _, desc = deploy(slow, app)
    assert desc["status"] == "SUCCEEDED" and output(desc)["status"] == "SUCCEEDED", desc.get("cause")
    assert slow.item(f"ENV#{app}#production", "ENV")["commit"] == output(desc)["commit"]
    # The aborted one's record is closed too, saying what happened.
    record = slow.deployment(app, "production", held["deployment_id"])
    assert record["status"] == "FAILED" and "ABORTED" in record["cause"], record


def test_two_branches_whose_names_normalise_alike_get_two_previews(local):
    app = "bank"
    envs = []
    for branch in ("feature/alike", "feature-alike"):
        commit = new_commit()
        local.put_image("bank", commit)
        status, reply = local.push(commit, branch=branch, repository="stepdeploy-samples/flask-banking")
        assert status == 202, reply
        desc = local.follow(reply["execution_arn"], timeout=300)
        assert desc["status"] == "SUCCEEDED", desc.get("cause")
        envs.append(reply["environment"])
    assert envs[0] != envs[1], envs
    assert envs[1] == "pr-feature-alike"
    for environment in envs:
        assert counts(inventory(local, app, environment))["VPC"] == 1, environment
