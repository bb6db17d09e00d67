"""Figures from the local stack (a stack of its own on free ports, stopped after):

- webhook: p50/p90/p99 of a valid signed push, client-measured over HTTP
  (verification, delivery claim, ledger write, StartExecution);
- image: time from an image event (image-ready invoked with the ECR event, or
  Docker Hub's webhook posted to its hook URL) to the execution leaving Wait
  For Image;
- deploy: wall time and state transitions of a first deploy, a new-commit
  deploy and a same-commit deploy, and their mutating AWS calls;
- teardown: wall time and state transitions.

    python scripts/bench_stack.py [--pushes 100]

Prints figures; asserts nothing. Emulator figures, not AWS's.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import local_stack as stk  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# An app whose images come from Docker Hub, for the image figures.
HUB_APP = {"name": "hubbench", "repository": "acme/hubbench", "image": {"repository": "acme/hubbench"},
           "previews": {"enabled": True}, "network": {"cidr": "10.90.0.0/16"}}


def push(env, commit, branch="main", repository=None):
    headers, body = stk.sample_push()
    payload = json.loads(body)
    payload["after"], payload["ref"] = commit, f"refs/heads/{branch}"
    if repository:
        payload["repository"]["full_name"] = repository
    payload["repository"]["pushed_at"] = int(time.time())
    t = time.perf_counter()
    status, reply = stk.post_webhook(env, headers, json.dumps(payload).encode())
    return (time.perf_counter() - t) * 1000, status, reply


def states(env, arn):
    sfn = stk.clients(env)("stepfunctions")
    return [e for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"] if e["type"].endswith("StateEntered")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=100)
    args = parser.parse_args()
    stack = stk.Stack(Path(tempfile.mkdtemp(prefix="stepdeploy-bench-")))
    env = stack.up(None, None, poll_seconds=1)
    try:
        # Deploys first, while nothing else runs.
        first, second = secrets.token_hex(20), secrets.token_hex(20)
        for c in (first, second):
            stk.put_sample_image(env, "bank", c)
        print(f"{'deploy':<22} {'wall (s)':>9} {'states':>7} {'mutating calls':>15}")
        for label, commit in (("first", first), ("new commit", second), ("same commit", second)):
            _, status, reply = push(env, commit)
            desc = stk.follow(env, reply["execution_arn"], echo=False)
            out = json.loads(desc.get("output") or "{}")
            wall = (desc["stopDate"] - desc["startDate"]).total_seconds()
            print(f"{label:<22} {wall:>9.1f} {len(states(env, reply['execution_arn'])):>7} {out.get('mutations', '?'):>15}")

        # Image event -> execution leaves Wait For Image.
        sfn = stk.clients(env)("stepfunctions")
        stk.register_spec(stk.clients(env)("dynamodb"), HUB_APP)

        def announce_ecr(commit):
            digest = stk.put_sample_image(env, "bank", commit)
            event = json.loads((stk.ROOT / "events" / "image-ready.ecr-push.json").read_text())
            event["detail"].update({"image-tag": commit, "image-digest": digest})
            t = time.perf_counter()
            stk.post_json(f"{env['STEPDEPLOY_LAMBDA_URL']}/2015-03-31/functions/image-ready/invocations",
                          json.dumps(event).encode(), timeout=60)
            return t

        def announce_docker_hub(commit):
            stk.push_docker_hub_image(env, "acme/hubbench", commit)
            t = time.perf_counter()
            stk.post_json(env["STEPDEPLOY_DOCKER_HUB_HOOK_URL"],
                          json.dumps(stk.docker_hub_hook("acme/hubbench", commit)).encode(), timeout=60)
            return t

        print()
        for source, repository, announce in (("ECR", None, announce_ecr),
                                             ("Docker Hub", "acme/hubbench", announce_docker_hub)):
            waits = []
            for _ in range(5):
                commit = secrets.token_hex(20)
                _, _, reply = push(env, commit, branch="feature/bench", repository=repository)
                arn = reply["execution_arn"]
                while not any(e["stateEnteredEventDetails"]["name"] == "Wait For Image" for e in states(env, arn)):
                    time.sleep(0.05)
                time.sleep(0.5)
                t = announce(commit)
                while True:
                    hist = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                    if any(e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "Wait For Image" for e in hist):
                        break
                    time.sleep(0.01)
                waits.append((time.perf_counter() - t) * 1000)
            print(f"{source} image event -> Wait For Image exited: median {statistics.median(waits):.0f} ms, "
                  f"max {max(waits):.0f} ms ({len(waits)} runs)")

        # Webhook latency.
        times = []
        for _ in range(args.pushes):
            ms, status, reply = push(env, secrets.token_hex(20), branch="develop")  # a preview: parks at Wait For Image
            if status in (200, 202):
                times.append(ms)
        print(f"webhook push (202, execution started): p50 {pct(times, 50):.1f} ms, p90 {pct(times, 90):.1f} ms, "
              f"p99 {pct(times, 99):.1f} ms over {len(times)} pushes")

        # Teardown.
        arn = sfn.start_execution(stateMachineArn=env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"], name="bench-teardown",
                                  input=json.dumps({"app": "bank", "environment": "production", "confirm": "production"}))["executionArn"]
        desc = stk.follow(env, arn, echo=False)
        out = json.loads(desc.get("output") or "{}")
        print(f"teardown: {desc['status']} in {(desc['stopDate'] - desc['startDate']).total_seconds():.1f} s, "
              f"{len(states(env, arn))} states, removed {len(out.get('removed', []))}, skipped {len(out.get('skipped', []))}")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
