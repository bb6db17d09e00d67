"""EventBridge Scheduler: one-time schedules fire.

moto stores schedules and never fires them. Here a one-time schedule
(`at(yyyy-mm-ddThh:mm:ss)`, UTC) whose time has come starts its target, a
Step Functions state machine, with the target's input, once; with
`ActionAfterCompletion` DELETE it is then deleted, as Scheduler does. The
clock it goes by (`Clock`) is real time plus what `POST /_stepdeploy/clock`
(`{"advance_seconds": N}`) added, so a test sees hours pass in a moment;
`DELETE` puts it back. Not modelled: rate/cron expressions, other targets,
flexible windows, retries, and the role (Scheduler assumes it; IAM is not
enforced here). Nothing of moto is patched: a thread looks at its backends
twice a second.
"""

from __future__ import annotations

import calendar
import json
import re
import threading
import time
import uuid

AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")


class Clock:
    """Real time plus an offset the control endpoint moves."""

    def __init__(self):
        self.lock = threading.Lock()
        self.offset = 0.0

    def now(self) -> float:
        with self.lock:
            return time.time() + self.offset

    def endpoint(self, environ: dict) -> tuple[int, dict]:
        """`/_stepdeploy/clock`: GET reads, POST `{"advance_seconds": N}` moves it on, DELETE puts it back."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                advance = float(json.loads(environ["wsgi.input"].read(length) or b"{}")["advance_seconds"])
            except (ValueError, TypeError, KeyError) as err:
                return 400, {"error": f"expected {{\"advance_seconds\": N}}: {err}"}
            with self.lock:
                self.offset += advance
        elif method == "DELETE":
            with self.lock:
                self.offset = 0.0
        elif method != "GET":
            return 405, {"error": f"{method} not allowed: GET, POST or DELETE"}
        with self.lock:
            offset = self.offset
        return 200, {"offset_seconds": offset, "now": time.time() + offset}


def fire_schedules(port: int, clock: Clock, every: float = 0.5) -> None:
    """Fire due one-time schedules (see above), from a thread of its own."""
    import boto3
    from moto.scheduler.models import scheduler_backends

    clients: dict[str, object] = {}

    def start(target: dict, region: str) -> str:
        if region not in clients:
            clients[region] = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                                           aws_access_key_id="testing", aws_secret_access_key="testing")
        arn = target.get("Arn", "")
        if ":states:" not in arn:
            return f"target {arn} is not a state machine (not modelled)"
        # AWS names an execution started without a name; moto's interpreter
        # leaves it null, so the emulator names it, as a UUID.
        out = clients[region].start_execution(stateMachineArn=arn, name=str(uuid.uuid4()),
                                              input=target.get("Input") or "{}")
        return out["executionArn"]

    def tick() -> None:
        now = clock.now()
        for account_backends in list(scheduler_backends.values()):
            for region, backend in list(account_backends.items()):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        m = AT.fullmatch(schedule.schedule_expression or "")
                        if not m or schedule.state != "ENABLED" or getattr(schedule, "fired", None) == schedule.last_modified_date:
                            continue
                        if calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0)) > now:
                            continue
                        schedule.fired = schedule.last_modified_date
                        try:
                            started = start(schedule.target, region)
                        except Exception as err:  # Scheduler drops a target that fails after its retries
                            started = f"failed: {err}"
                        print(f"schedule {group.name}/{schedule.name} fired: {started}", flush=True)
                        if schedule.action_after_completion == "DELETE":
                            group.schedules.pop(schedule.name, None)

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                tick()
            except Exception as err:  # a schedule changed under us: next tick
                print(f"schedule tick: {err}", flush=True)

    threading.Thread(target=loop, daemon=True).start()
