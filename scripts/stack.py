"""The local stack's command line (the Makefile's targets call it).

    python scripts/stack.py up        start (or reuse) it, write .local/env
    python scripts/stack.py down      stop what `up` started, nothing else
    python scripts/stack.py demo      up, then deploy the sample app from a sample push
    python scripts/stack.py plan      up, then a dry run of the sample push: what a deploy would change
    python scripts/stack.py status    what is running and the last deployments
    python scripts/stack.py teardown  remove an environment (--app, --environment)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from local_stack import (DEFAULT_LAMBDA_PORT, DEFAULT_PORT, ROOT, TABLE, Stack, clients, follow, github, github_reports,
                         inventory, post_webhook, put_repository_file, put_sample_image, read_env, sample_push, say)


def demo(stack: Stack, args) -> int:
    env = stack.up(args.port, args.lambda_port, args.poll_seconds, lambda_address=lambda_address(args))
    headers, body = sample_push()
    commit = json.loads(body)["after"]
    repository = json.loads(body)["repository"]["full_name"]
    put_repository_file(env, repository, commit, (ROOT / "apps" / "bank.stepdeploy.toml").read_text())
    say(f"{repository} has apps/bank.stepdeploy.toml as .stepdeploy.toml at {commit[:7]} (in the local fake GitHub)")
    digest = put_sample_image(env, "bank", commit)
    say(f"sample image bank:{commit[:7]} is in the emulator's ECR ({digest[:19]}...)")
    seen = len(github(env, "GET", "/_calls"))
    status, reply = post_webhook(env, headers, body)
    say(f"POST {env['STEPDEPLOY_WEBHOOK_URL']} (push to main, {commit[:7]}) -> {status} {json.dumps(reply)}")
    if status not in (200, 202) or "execution_arn" not in reply:
        say("the webhook did not start a deployment")
        return 1
    say(f"deployment {reply['deployment_id']}")
    desc = follow(env, reply["execution_arn"], timeout=args.timeout)
    read = [c for c in github(env, "GET", "/_calls")[seen:]
            if c["method"] == "GET" and c["path"].startswith(f"/repos/{repository}/contents/")]
    for c in read:
        say(f"the deployment read its spec: GET {c['path']}")
    say(f"GitHub ({env['STEPDEPLOY_GITHUB_API_URL']}, the local fake) was told, as the stack's GitHub App:")
    for what, a, b in github_reports(env, repository, seen):
        print(f"    {what:<17} {a:<12} {b}")
    if desc["status"] != "SUCCEEDED":
        say(f"deployment {desc['status']}: {desc.get('error', '')}: {desc.get('cause', '')}")
        return 1
    out = json.loads(desc.get("output") or "{}")
    say(f"deployment SUCCEEDED in {(desc['stopDate'] - desc['startDate']).total_seconds():.1f}s")
    say(f"URL: {out.get('url') or '(no load balancer)'}")
    changes = out.get("changes") or []
    say(f"{out.get('mutations', 0)} mutating AWS calls" + (":" if changes else " (already converged)"))
    for change in changes:
        print(f"    {change}")
    rows = inventory(env, "bank", "production")
    width = max([len(r[1]) for r in rows] + [10])
    print(f"\n  {'resource':<11} {'id':<{width}} detail")
    for kind, rid, detail in rows:
        print(f"  {kind:<11} {rid:<{width}} {detail}")
    print(f"\nThe stack keeps running: `source {stack.env_file}` and use the AWS CLI/boto3 with AWS_ENDPOINT_URL; `make down` stops it.")
    return 0


def lambda_address(args) -> str:
    """On cargo lambda's default port, listen where `cargo lambda invoke`
    looks by default ([::1]); elsewhere, on 127.0.0.1."""
    return "::" if args.lambda_port == DEFAULT_LAMBDA_PORT else "127.0.0.1"


def dry_run(env: dict[str, str], app: str, environment: str, commit: str, timeout: float = 600) -> dict:
    """Start a dry run of `commit` (as a person would in the console) and
    return its finished execution."""
    sfn = clients(env)("stepfunctions")
    name = f"plan-{app}-{environment}-{commit[:7]}-{time.time_ns() % 10**9}"
    request = {"app": app, "environment": environment, "commit": commit, "dry_run": True}
    arn = sfn.start_execution(stateMachineArn=env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], name=name,
                              input=json.dumps(request))["executionArn"]
    return follow(env, arn, timeout=timeout, echo=False)


def print_plan(out: dict) -> None:
    """A dry run's plan as a table, one line per change (+ create, ~ update,
    … wait, ! conflict, x failed, blank: nothing to do); the image first."""
    rows = out.get("plan") or []
    marks = {"create": "+", "update": "~", "nothing": " ", "wait": "…", "conflict": "!", "failed": "x"}
    detail = lambda r: "; ".join(r.get("what") or []) or r.get("why", "")  # noqa: E731
    image = [r for r in rows if r["resource"] == "image"]
    rows = [r for r in rows if r["resource"] != "image"]
    for r in image:
        print(f"\n  {marks.get(r['action'], '?')} image {r['name']}" + (f": {detail(r)}" if detail(r) else ""))
    rw = max([len(r["resource"]) for r in rows] + [8])
    nw = max([len(r["name"]) for r in rows] + [4])
    print(f"\n    {'resource':<{rw}}  {'name':<{nw}}  {'action':<8} detail")
    for r in rows:
        print(f"  {marks.get(r['action'], '?')} {r['resource']:<{rw}}  {r['name']:<{nw}}  {r['action']:<8} {detail(r)}".rstrip())
    print()


def plan(stack: Stack, args) -> int:
    env = stack.up(args.port, args.lambda_port, args.poll_seconds, lambda_address=lambda_address(args))
    commit = args.commit or json.loads(sample_push()[1])["after"]
    say(f"dry run of {args.app}/{args.environment} at {commit[:7]}: plans every step, changes nothing")
    desc = dry_run(env, args.app, args.environment, commit, timeout=args.timeout)
    if desc["status"] != "SUCCEEDED":
        say(f"dry run {desc['status']}: {desc.get('error', '')}: {desc.get('cause', '')}")
        return 1
    out = json.loads(desc.get("output") or "{}")
    print_plan(out)
    say(out.get("summary", ""))
    return 0


def teardown(stack: Stack, app: str, environment: str) -> int:
    env = read_env(stack.env_file)
    request = {"app": app, "environment": environment}
    if not environment.startswith("pr-"):
        request["confirm"] = environment
    sfn = clients(env)("stepfunctions")
    name = f"teardown-{app}-{environment}-{int(time.time())}"
    arn = sfn.start_execution(stateMachineArn=env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"], name=name,
                              input=json.dumps(request))["executionArn"]
    say(f"tearing down {app}/{environment} ({name})")
    desc = follow(env, arn)
    if desc["status"] != "SUCCEEDED":
        say(f"teardown {desc['status']}: {desc.get('error', '')}: {desc.get('cause', '')}")
        return 1
    out = json.loads(desc["output"])
    say(f"teardown SUCCEEDED in {(desc['stopDate'] - desc['startDate']).total_seconds():.1f}s: removed {len(out['removed'])}, skipped {len(out['skipped'])}")
    for r in out["removed"]:
        print(f"    removed {r}")
    for s in out["skipped"]:
        print(f"    skipped {s['resource']}: {s['reason']}")
    return 0


def status(stack: Stack) -> int:
    env = read_env(stack.env_file)
    for name in ("emulator", "lambdas"):
        pid = stack.pid(name)
        say(f"{name}: {'running (pid %d)' % pid if pid else 'stopped'}")
    if not env or not stack.pid("emulator"):
        return 0
    for line in environment_lines(env):
        say(line)
    return 0


OPEN = ("QUEUED", "IN_PROGRESS")


def environment_lines(env: dict[str, str], recent: int = 5) -> list[str]:
    """Every environment in the ledger: what runs, who holds it, the queue
    (deployments not ended, in push order) and the last deployments."""
    ddb = clients(env)("dynamodb")
    items = [{k: list(v.values())[0] for k, v in it.items()}
             for page in ddb.get_paginator("scan").paginate(TableName=TABLE) for it in page["Items"]]
    by_env: dict[str, list[dict]] = {}
    for it in items:
        if it["pk"].startswith("ENV#"):
            by_env.setdefault(it["pk"], []).append(it)
    lines = []
    for pk in sorted(by_env):
        rows = by_env[pk]
        _, app, environment = pk.split("#", 2)
        record = next((r for r in rows if r["sk"] == "ENV"), {})
        lease = next((r for r in rows if r["sk"] == "LOCK"), {})
        deployments = sorted((r for r in rows if r["sk"].startswith("DEPLOY#")),
                             key=lambda r: (int(r.get("seq", 0)), r["sk"]))
        lines.append(f"{app}/{environment}: {record.get('status', 'never deployed')}"
                     + (f", runs {record['commit'][:7]} ({record['last_deployment']})" if record.get("commit") else "")
                     + (f", {record['url']}" if record.get("url") else ""))
        if lease.get("holder"):
            lines.append(f"  held by {lease['holder']} (a {lease.get('kind', 'teardown')} since {lease.get('since', '?')})")
        if lease.get("teardown_state") in ("pending", "failed"):
            lines.append(f"  teardown {lease.get('teardown_id')} {lease['teardown_state']}")
        queue = [d for d in deployments if d["status"] in OPEN]
        for d in queue:
            waits = f", waiting for {d['waiting_for']}" if d.get("waiting_for") else ""
            lines.append(f"  queue #{d.get('seq', '?')} {d['deployment_id']} {d['status']}{waits}")
        for d in [d for d in deployments if d["status"] not in OPEN][-recent:]:
            cause = f"  {d['cause']}" if d.get("cause") else ""
            lines.append(f"  #{d.get('seq', '-')} {d['deployment_id']}  {d['status']}{cause}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "demo", "plan", "status", "teardown"])
    parser.add_argument("--commit", help="plan: the commit to plan (default: the sample push's)")
    parser.add_argument("--app", default="bank")
    parser.add_argument("--environment", default="production")
    parser.add_argument("--state-dir", default=str(ROOT / ".local"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STEPDEPLOY_EMULATOR_PORT", DEFAULT_PORT)))
    parser.add_argument("--lambda-port", type=int, default=int(os.environ.get("STEPDEPLOY_LAMBDA_PORT", DEFAULT_LAMBDA_PORT)))
    parser.add_argument("--poll-seconds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    stack = Stack(Path(args.state_dir))
    if args.command == "up":
        stack.up(args.port, args.lambda_port, args.poll_seconds, lambda_address=lambda_address(args))
        return 0
    if args.command == "down":
        stack.down()
        return 0
    if args.command == "status":
        return status(stack)
    if args.command == "teardown":
        return teardown(stack, args.app, args.environment)
    if args.command == "plan":
        return plan(stack, args)
    return demo(stack, args)


if __name__ == "__main__":
    sys.exit(main())
