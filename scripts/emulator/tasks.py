"""ECS tasks in the local AWS. moto runs none, so the emulator's rollout
simulation (`ecs`) starts and stops them here (`Tasks`, which owns their side state), in
moto's own models, so that any ECS client sees a consistent service:

- `ListTasks` (also by `serviceName`, which moto ignores) and `DescribeTasks`
  show the running tasks of the current deployment and the stopped ones, with
  `lastStatus`, `stoppedReason`, `stopCode`, each container's `exitCode` and
  `reason`, and the task's network interface (an ENI in the service's subnet,
  deleted when the task stops, as Fargate does);
- a running task is registered in the service's target group (by IP), and
  `DescribeTargetHealth` answers what its health checks found;
- each task writes lines to its CloudWatch Logs stream
  (`<awslogs-stream-prefix>/<container>/<task id>`), as the awslogs driver does.

What a task does is recognised from its image reference (tests name
repositories after it) or, for its secrets, from Secrets Manager:
- `broken`: the image cannot be pulled (`CannotPullContainerError`);
- a secret the task definition names that Secrets Manager cannot return
  (deleted): `ResourceInitializationError`, as when the execution role may not
  read it;
- `exits-on-start`: the container exits 1 right after starting, with a
  Python traceback in its log;
- `out-of-memory`: the container is killed with exit code 137
  (`OutOfMemoryError: Container killed due to memory usage`);
- `unhealthy`: the container runs but answers 404 at the health check path;
  the load balancer marks it unhealthy (`Target.ResponseCodeMismatch`) and ECS
  stops it (`Task failed ELB health checks in (target-group …)`);
- anything else starts, passes its health checks and runs.

A one-off task (RunTask, e.g. a release command) runs for the rollout time
and exits 0, or 1 when its command contains `fail`; one whose command
contains `hang` runs until StopTask stops it (`UserInitiated`, exit 137).
"""

import datetime
import json
import threading
import time


# Image reference parts that make a task fail, and how (see the docstring).
PULL_FAILS = "broken"
EXITS = "exits-on-start"
OUT_OF_MEMORY = "out-of-memory"
UNHEALTHY = "unhealthy"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def outcome(account: str, region: str, task_definition) -> str:
    """What a task of this task definition does: `pull`, `secrets`, `exit`,
    `oom`, `unhealthy` or `ok` (see the module's docstring)."""
    container = task_definition.container_definitions[0]
    image = container.get("image", "")
    if PULL_FAILS in image:
        return "pull"
    if any(not secret_readable(account, region, s.get("valueFrom", "")) for s in container.get("secrets") or []):
        return "secrets"
    if OUT_OF_MEMORY in image:
        return "oom"
    if EXITS in image:
        return "exit"
    if UNHEALTHY in image:
        return "unhealthy"
    return "ok"


def secret_readable(account: str, region: str, value_from: str) -> bool:
    from moto.secretsmanager.models import secretsmanager_backends

    # `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:stage:version]`
    arn = ":".join(value_from.split(":")[:7])
    try:
        secretsmanager_backends[account][region].get_secret_value(arn, None, None)
        return True
    except Exception:
        return False


def secret_password(account: str, region: str, container: dict) -> str | None:
    """The database password the task is given, as the container sees it."""
    from moto.secretsmanager.models import secretsmanager_backends

    for s in container.get("secrets") or []:
        arn = ":".join(s.get("valueFrom", "").split(":")[:7])
        try:
            value = secretsmanager_backends[account][region].get_secret_value(arn, None, None)
            return json.loads(value.get("SecretString") or "{}").get("password")
        except Exception:
            continue
    return None


def log_lines(kind: str, container: dict, password: str | None = None) -> list[str]:
    """What the container writes before it stops (or while it runs). An app
    that exits on start also prints its configuration, database password
    included, as careless apps do: what stepdeploy keeps of it must not."""
    port = next((m.get("containerPort") for m in container.get("portMappings") or []), 8000)
    booting = [f"[INFO] Starting gunicorn 22.0.0", f"[INFO] Listening at: http://0.0.0.0:{port} (1)",
               "[INFO] Using worker: sync", "[INFO] Booting worker with pid: 7"]
    if kind == "exit":
        return booting[:1] + [
            f"[DEBUG] config: DB_USER=admin DB_PASSWORD={password or 'unset'} DB_NAME=banking",
            "Traceback (most recent call last):",
            '  File "/app/app.py", line 4, in <module>',
            "    from flask_sqlalchemy import SQLAlchemy",
            "ModuleNotFoundError: No module named 'flask_sqlalchemy'",
            "[ERROR] Worker (pid:7) exited with code 3",
            "[ERROR] Reason: App failed to load.",
        ]
    if kind == "oom":
        return booting + ["[INFO] loading the transaction history into memory"]
    if kind == "unhealthy":
        return booting + [f'10.0.0.1 - - "GET /health HTTP/1.1" 404 207 "-" "ELB-HealthChecker/2.0"'] * 3
    return booting


def stream_prefix(container: dict) -> tuple[str, str] | None:
    options = (container.get("logConfiguration") or {}).get("options") or {}
    if "awslogs-group" not in options:
        return None
    return options["awslogs-group"], options.get("awslogs-stream-prefix", "ecs")


def write_logs(account: str, region: str, task, container: dict, lines: list[str]) -> None:
    from moto.logs.models import logs_backends

    where = stream_prefix(container)
    if not where:
        return
    group_name, prefix = where
    group = logs_backends[account][region].groups.get(group_name)
    if group is None:
        return  # the awslogs driver fails the task on AWS; nothing to write here
    stream = f"{prefix}/{container.get('name')}/{task.id}"
    if stream not in group.streams:
        group.create_log_stream(stream)
    ms = int(time.time() * 1000)
    group.put_log_events(stream, [{"timestamp": ms + i, "message": line} for i, line in enumerate(lines)])


def attachment_detail(task, name: str) -> str | None:
    """One detail of the task's network interface (`privateIPv4Address`, `networkInterfaceId`)."""
    for attachment in task.attachments:
        for detail in attachment.get("details", []):
            if detail["name"] == name:
                return detail["value"]
    return None


def task_ip(task) -> str | None:
    return attachment_detail(task, "privateIPv4Address")


def target_groups(service) -> list[tuple[str, int]]:
    return [(lb.get("targetGroupArn"), lb.get("containerPort")) for lb in service.load_balancers or []
            if lb.get("targetGroupArn")]


# A one-off task whose command contains this word exits 1 (a failing
# migration); one whose command contains the other never ends by itself.
COMMAND_FAILS = "fail"
COMMAND_HANGS = "hang"


class Tasks:
    """The emulated tasks' side state, beside moto's task models: what the
    load balancer's health checks found for each target, and the lock that
    guards it and the backends' task tables."""

    def __init__(self):
        # (target group ARN, target IP) -> (state, reason, description),
        # answered by DescribeTargetHealth (see `elbv2`).
        self.health: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}
        self.lock = threading.RLock()

    def health_of(self, target_group_arn: str, ip: str) -> tuple[str, str | None, str | None] | None:
        with self.lock:
            return self.health.get((target_group_arn, ip))

    def launch(self, backend, service, task_definition, started_by: str):
        """A task of the service, RUNNING, with its network interface."""
        network = getattr(service, "network_configuration", None) or None
        return self.start(backend, service.cluster_name, f"service:{service.name}", network, task_definition, started_by)

    def start(self, backend, cluster_name: str, group: str, network, task_definition, started_by: str, overrides=None):
        """A Fargate task, RUNNING, with its network interface (moto's own
        RunTask fails on a task definition that sets memory only at task level)."""
        from moto.ecs.models import Task

        cluster = backend._get_cluster(cluster_name)
        task = Task(cluster, task_definition, None, None, backend, group, launch_type="FARGATE",
                    started_by=started_by, networking_configuration=network, overrides=overrides or {})
        task.started_at = task.created_at = now()
        task.desired_status = "RUNNING"
        for c in task.containers:
            c.last_status = "RUNNING"
        with self.lock:
            backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        return task

    def register(self, account: str, region: str, service, task, health: tuple[str, str | None, str | None]) -> None:
        from moto.elbv2.models import elbv2_backends

        ip = task_ip(task)
        for arn, port in target_groups(service):
            if not ip:
                continue
            try:
                elbv2_backends[account][region].register_targets(arn, [{"Id": ip, "Port": port}])
            except Exception:
                continue  # the target group is gone (teardown under way)
            with self.lock:
                self.health[(arn, ip)] = health

    def stop(self, account: str, region: str, service, task, reason: str, stop_code: str, exit_code: int | None,
             container_reason: str | None = None, keep_target: bool = False) -> None:
        """Stop a task as ECS does: STOPPED with why, its container's exit code,
        its network interface released, its target deregistered (unless
        `keep_target`: the load balancer's last verdict stays readable)."""
        from moto.ec2.models import ec2_backends
        from moto.elbv2.models import elbv2_backends

        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = stop_code
        task.stopping_at = task.stopped_at = task.execution_stopped_at = now()
        for c in task.containers:
            c.last_status = "STOPPED"
            c.exit_code = c.exitCode = exit_code
            if container_reason:
                c.reason = container_reason
        ip, eni = task_ip(task), attachment_detail(task, "networkInterfaceId")
        if service is not None and ip and not keep_target:
            for arn, port in target_groups(service):
                try:
                    elbv2_backends[account][region].deregister_targets(arn, [{"Id": ip, "Port": port}])
                except Exception:
                    pass
                with self.lock:
                    self.health.pop((arn, ip), None)
        if eni:
            try:
                ec2_backends[account][region].delete_network_interface(eni)
            except Exception:
                pass

    def running(self, backend, service) -> list:
        group = f"service:{service.name}"
        with self.lock:
            tasks = list(backend.tasks.get(service.cluster_name, {}).values())
        return [t for t in tasks if t.group == group and t.desired_status == "RUNNING"]

    def fail(self, backend, service, task_definition, kind: str, count: int) -> str:
        """Start `count` tasks that fail as `kind` says; answer the service event
        ECS writes about the last one."""
        account, region = backend.account_id, service.region_name
        container = task_definition.container_definitions[0]
        image = container.get("image", "")
        event = ""
        for _ in range(count):
            task = self.launch(backend, service, task_definition, started_by=getattr(service, "_rollout_id", ""))
            if kind == "pull":
                why = (f"CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                       f"failed to resolve ref {image}: not found")
                self.stop(account, region, service, task, why, "TaskFailedToStart", None, why)
                event = f"(task {task.id}) failed to start: {why}"
            elif kind == "secrets":
                secret = next((s.get("valueFrom", "") for s in container.get("secrets") or []), "")
                why = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                       "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 "
                       f"time(s): failed to fetch secret {secret} from secrets manager: ResourceNotFoundException: "
                       "Secrets Manager can't find the specified secret.")
                self.stop(account, region, service, task, why, "TaskFailedToStart", None)
                event = f"(task {task.id}) failed to start: {why}"
            elif kind == "exit":
                password = secret_password(account, region, container)
                write_logs(account, region, task, container, log_lines("exit", container, password))
                self.stop(account, region, service, task, "Essential container in task exited",
                          "EssentialContainerExited", 1)
                event = f"has stopped 1 running tasks: (task {task.id})."
            elif kind == "oom":
                write_logs(account, region, task, container, log_lines("oom", container))
                self.stop(account, region, service, task, "Essential container in task exited", "EssentialContainerExited",
                          137, "OutOfMemoryError: Container killed due to memory usage")
                event = f"has stopped 1 running tasks: (task {task.id})."
            else:  # unhealthy
                write_logs(account, region, task, container, log_lines("unhealthy", container))
                self.register(account, region, service, task,
                              ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]"))
                groups = target_groups(service)
                group = groups[0][0] if groups else "the service's target group"
                self.stop(account, region, service, task, f"Task failed ELB health checks in (target-group {group})",
                          "ServiceSchedulerInitiated", 0, keep_target=True)
                event = f"(task {task.id}) failed ELB health checks in (target-group {group})"
        return event

    def replace(self, backend, service, task_definition, deployment_id: str) -> None:
        """A rollout that works: the old tasks stop, `desired` new ones run,
        healthy in the target group, having written their start-up lines."""
        from moto.elbv2.models import elbv2_backends

        account, region = backend.account_id, service.region_name
        container = task_definition.container_definitions[0]
        for task in self.running(backend, service):
            self.stop(account, region, service, task, f"Scaling activity initiated by (deployment {deployment_id})",
                      "ServiceSchedulerInitiated", 0)
        # Targets kept for their last verdict (failed health checks) go now.
        for arn, port in target_groups(service):
            with self.lock:
                stale = [ip for (group, ip) in self.health if group == arn]
                for ip in stale:
                    self.health.pop((arn, ip), None)
            for ip in stale:
                try:
                    elbv2_backends[account][region].deregister_targets(arn, [{"Id": ip, "Port": port}])
                except Exception:
                    pass
        for _ in range(service.desired_count):
            task = self.launch(backend, service, task_definition, started_by=deployment_id)
            write_logs(account, region, task, container, log_lines("ok", container))
            self.register(account, region, service, task, ("healthy", None, None))

    def run_task(self, backend, cluster_name: str, task_definition, started_by: str, network, overrides,
                 seconds: float) -> object:
        """RunTask: a one-off task that runs its command for `seconds`, writes
        its log and stops with exit code 0 (1 when the command contains
        `COMMAND_FAILS`; never, when it contains `COMMAND_HANGS`)."""
        task = self.start(backend, cluster_name, f"family:{task_definition.family}", network, task_definition, started_by,
                          overrides)
        container = task_definition.container_definitions[0]
        command = next((o.get("command") for o in (overrides or {}).get("containerOverrides", [])
                        if o.get("name") == container.get("name")), None) or container.get("command") or []
        fails = any(COMMAND_FAILS in part for part in command)
        account, region = backend.account_id, task.region_name
        lines = [f"$ {' '.join(command)}", "Connecting to the database", "Running migrations"]
        lines += (["Traceback (most recent call last):",
                   "sqlalchemy.exc.OperationalError: (1050, \"Table 'accounts' already exists\")"] if fails
                  else ["Created tables: accounts, transactions", "Done"])

        def finish():
            if task.desired_status == "STOPPED":
                return  # StopTask came first
            write_logs(account, region, task, container, lines)
            self.stop(account, region, None, task, "Essential container in task exited", "EssentialContainerExited",
                      1 if fails else 0)

        if any(COMMAND_HANGS in part for part in command):
            return task
        timer = threading.Timer(seconds, finish)
        timer.daemon = True
        timer.start()
        return task

    def stop_task(self, backend, task, reason: str) -> None:
        """StopTask, as ECS does it: SIGTERM, then SIGKILL; `UserInitiated`."""
        self.stop(backend.account_id, task.region_name, None, task, reason or "Task stopped by user", "UserInitiated", 137)

    def stop_all(self, backend, service, why: str) -> None:
        """The service scaled to 0 or deleted: its tasks stop."""
        for task in self.running(backend, service):
            self.stop(backend.account_id, service.region_name, service, task, why, "ServiceSchedulerInitiated", 0)
