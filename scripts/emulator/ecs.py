"""ECS: services roll out and tasks run, which moto does not do.

A service's rollout (after CreateService, or an UpdateService that changes
its task definition or forces a new deployment) starts IN_PROGRESS with no
tasks running and completes after the rollout time (--rollout-seconds, or
the `rollout_seconds` setting) with every task running, as real tasks
(`tasks`: ListTasks/DescribeTasks, target health, log streams). A task that
cannot run (an image whose reference contains "broken", "exits-on-start",
"out-of-memory" or "unhealthy", or a secret Secrets Manager cannot return)
stops with ECS's reason; the rollout fails and the deployment circuit
breaker rolls back to the previous task definition (or fails the first
rollout), with a service event that says why, as ECS does. A `stuck` ecs
fault keeps a rollout IN_PROGRESS, its tasks failing health checks again and
again. Scaling to 0 or deleting the service stops its tasks.

RunTask runs a one-off Fargate task (a release command) for the rollout
time; it exits 0, or 1 when its command contains "fail", or runs until
StopTask when it contains "hang".

Also: ListTasks filters by `serviceName` (moto ignores it), and a described
task no longer moves itself towards STOPPED (moto's `advance`): tasks stop
when the simulation stops them, as ECS does.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from typing import TYPE_CHECKING

from .patch import patch
from .tasks import outcome

if TYPE_CHECKING:
    from .faults import Faults
    from .tasks import Tasks

CREATE_SERVICE = ("(self, cluster_str, service_name, desired_count, task_definition_str=None, load_balancers=None, "
                  "scheduling_strategy=None, tags=None, deployment_controller=None, launch_type=None, "
                  "service_registries=None, platform_version=None, propagate_tags='NONE', "
                  "network_configuration=None, role_arn=None)")
RUN_TASK = ("(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type, "
            "networking_configuration=None, group=None, platform_version=None, capacity_provider_strategy=None)")
LIST_TASKS = ("(self, cluster_str=None, container_instance=None, family=None, started_by=None, service_name=None, "
              "desiredStatus=None)")


def install(tasks: Tasks, faults: Faults) -> None:
    """Rollouts, one-off tasks and their stops; the task listing fixes."""
    from moto.ecs.models import EC2ContainerServiceBackend, Task

    settings = faults.settings
    original_create = EC2ContainerServiceBackend.create_service
    original_update = EC2ContainerServiceBackend.update_service
    original_delete = EC2ContainerServiceBackend.delete_service
    original_run_task = EC2ContainerServiceBackend.run_task
    original_stop_task = EC2ContainerServiceBackend.stop_task
    original_list = EC2ContainerServiceBackend.list_tasks

    def deployment(service, task_definition, state, running, reason):
        now = datetime.datetime.now(datetime.timezone.utc)
        return {
            "id": f"ecs-svc/{uuid.uuid4().int % 10**19}", "status": "PRIMARY", "taskDefinition": task_definition,
            "desiredCount": service.desired_count, "pendingCount": service.desired_count - running,
            "runningCount": running, "failedTasks": 0, "createdAt": now, "updatedAt": now,
            "launchType": "FARGATE", "rolloutState": state, "rolloutStateReason": reason,
        }

    def event(service, message):
        service.events.insert(0, {
            "id": str(uuid.uuid4()), "createdAt": datetime.datetime.now(datetime.timezone.utc),
            "message": f"(service {service.name}) {message}",
        })

    def roll(backend, service, previous):
        target = service.task_definition
        service.running_count, service.pending_count = 0, service.desired_count
        service.deployments = [deployment(service, target, "IN_PROGRESS", 0, "ECS deployment in progress.")]
        rollout = service.deployments[0]["id"]
        service._rollout_id = rollout

        def finish():
            if service.task_definition != target:
                return  # a newer rollout took over
            definition = backend.describe_task_definition(target)
            if faults.stuck_rollout(service.name):
                # Tasks start, fail the load balancer's health checks, are
                # stopped and replaced; ECS keeps trying (the circuit
                # breaker counts slowly); the rollout stays IN_PROGRESS.
                event(service, tasks.fail(backend, service, definition, "unhealthy", 1))
                task = service.events[0]["message"].split("(task ")[-1].split(")")[0]
                event(service, f"has stopped 1 running tasks: (task {task}).")
                service.running_count, service.pending_count = 0, service.desired_count
                again = threading.Timer(settings["rollout_seconds"], finish)
                again.daemon = True
                again.start()
                return
            kind = outcome(backend.account_id, service.region_name, definition)
            if kind != "ok":
                # The circuit breaker trips after enough tasks failed.
                reason = "ECS deployment circuit breaker: tasks failed to start."
                event(service, tasks.fail(backend, service, definition, kind, min(max(service.desired_count, 1), 3)))
                if previous:
                    service.task_definition = previous
                    service.deployments = [deployment(service, previous, "COMPLETED", service.desired_count, reason)]
                    service.running_count, service.pending_count = service.desired_count, 0
                    event(service, f"rolling back to {previous}: {reason}")
                else:
                    service.deployments = [deployment(service, target, "FAILED", 0, reason)]
                return
            tasks.replace(backend, service, definition, rollout)
            service.deployments = [deployment(service, target, "COMPLETED", service.desired_count, "ECS deployment completed.")]
            service.running_count, service.pending_count = service.desired_count, 0
            event(service, "has reached a steady state.")

        timer = threading.Timer(settings["rollout_seconds"], finish)
        timer.daemon = True
        timer.start()

    def create_service(self, *args, **kwargs):
        service = original_create(self, *args, **kwargs)
        roll(self, service, None)
        return service

    def update_service(self, service_properties):
        cluster = service_properties.get("cluster", "default")
        name = service_properties.get("service", "").split("/")[-1]
        before = self._get_service(cluster, name).task_definition
        service = original_update(self, service_properties)
        if service.desired_count == 0:
            tasks.stop_all(self, service, "Scaling activity initiated by (service scaled to 0)")
        elif service.task_definition != before or service_properties.get("force_new_deployment"):
            roll(self, service, before)
        return service

    def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type,
                 networking_configuration=None, group=None, platform_version=None, capacity_provider_strategy=None):
        if launch_type != "FARGATE":
            return original_run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags,
                                     launch_type, networking_configuration, group, platform_version,
                                     capacity_provider_strategy)
        definition = self.describe_task_definition(task_definition_str)
        cluster = self._get_cluster(cluster_str)
        return [tasks.run_task(self, cluster.name, definition, started_by or "", networking_configuration, overrides,
                               settings["rollout_seconds"]) for _ in range(count)]

    def stop_task(self, cluster_str, task_str, reason):
        task = original_stop_task(self, cluster_str, task_str, reason)
        tasks.stop_task(self, task, reason)
        return task

    def delete_service(self, cluster_name, service_name, force):
        service = original_delete(self, cluster_name, service_name, force)
        tasks.stop_all(self, service, "Service deleted")
        return service

    def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                   service_name=None, desiredStatus=None):
        found = original_list(self, cluster_str, container_instance, family, started_by, service_name, desiredStatus)
        if service_name:
            group = "service:" + service_name.split("/")[-1]
            found = [t for t in found if t.group == group]
        return found

    backend = EC2ContainerServiceBackend
    patch(backend, "create_service", create_service, expects=CREATE_SERVICE)
    patch(backend, "update_service", update_service, expects="(self, service_properties)")
    patch(backend, "delete_service", delete_service, expects="(self, cluster_name, service_name, force)")
    patch(backend, "run_task", run_task, expects=RUN_TASK)
    patch(backend, "stop_task", stop_task, expects="(self, cluster_str, task_str, reason)")
    patch(backend, "list_tasks", list_tasks, expects=LIST_TASKS)
    patch(Task, "advance", lambda self: None, expects="(self)")
