"""The local AWS: moto in server mode, with what moto lacks filled in.

Run: python scripts/emulator --port 5050 --lambda-url http://127.0.0.1:9050 \\
         --docker-hub-port 5051 [--github-port 5052 --github-app-key key.pem]
(`__main__`: the flags and start-up; `scripts/local_stack.py` starts it so.)

One module per AWS service whose moto behaviour it changes:
- `lambda_`: invocations go to `cargo lambda watch` (the real Rust
  functions); the invocations in flight, to attribute calls to them.
- `stepfunctions`: moto runs the real ASL; SendTaskFailure keeps its cause.
- `ecs` (+ `tasks`): rollouts that progress, complete, fail and roll back;
  tasks that run, fail as their image says, log and register as targets;
  one-off RunTask tasks (release commands).
- `elbv2`: target health as the emulated tasks' health checks found it.
- `ec2`: the Elastic IP limit reported; network interfaces' DNS names.
- `rds`: no failed re-create over a kept automated snapshot.
- `ecr`: layers keep their bytes; GetDownloadUrlForLayer.
- `scheduler`: one-time schedules fire, by a clock tests can move on.
And one each for what is not a service:
- `registries`: the blob storage and a Docker Hub registry (its own port).
- `github`: a fake GitHub for the stack's GitHub App (its own port).
- `faults`: throttling, errors, eventual consistency, stuck resources,
  crashes of a Lambda invocation after a call, run-time settings.
- `calls`: the call log and the wrapper of moto's dispatcher every call
  passes through.
- `control`: every `/_stepdeploy/...` endpoint, documented in one place.
- `patch`: the one helper every change to moto goes through; it checks
  moto's version (the pin in scripts/requirements.txt) and each replaced
  method's signature at start-up, and stops naming both when moto changed.

State lives in the objects `install` creates (`Emulator`), each owned by the
module that needs it, and handed to the others' `install` functions.
"""

from __future__ import annotations

from . import calls, control, ec2, ecr, ecs, elbv2, faults, lambda_, rds, registries, scheduler, stepfunctions
from .tasks import Tasks


class Emulator:
    """The emulator's state, beside moto's backends."""

    def __init__(self, rollout_seconds: float = 1.0):
        self.settings = faults.Settings(rollout_seconds=rollout_seconds, attribute_calls=False,
                                        elastic_ip_limit=ec2.LOCAL_ELASTIC_IP_LIMIT)
        self.faults = faults.Faults(self.settings)
        self.calls = calls.CallLog()
        self.invocations = lambda_.Invocations()
        self.clock = scheduler.Clock()
        self.storage = registries.Storage()
        self.tasks = Tasks()


def install(lambda_url: str, rollout_seconds: float = 1.0) -> Emulator:
    """Patch moto, every patch checked first (`patch`); the state they share."""
    emulator = Emulator(rollout_seconds)
    lambda_.install(lambda_url.rstrip("/"), emulator.invocations)
    stepfunctions.install()
    rds.install()
    ecs.install(emulator.tasks, emulator.faults)
    elbv2.install(emulator.tasks)
    ec2.install(emulator.settings)
    ecr.install(emulator.storage)
    calls.install(emulator.calls, emulator.faults, emulator.invocations,
                  control.routes(emulator.calls, emulator.faults, emulator.clock))
    return emulator
