"""Elastic Load Balancing: target health as the emulated ECS tasks'
health checks found it (moto knows nothing of Fargate tasks' health)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .patch import patch

if TYPE_CHECKING:
    from .tasks import Tasks


def install(tasks: Tasks) -> None:
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    original_health = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        found = tasks.health_of(self.arn, target["Id"])
        if found:
            state, reason, description = found
            return FakeHealthStatus(target["Id"], target.get("Port", self.port),
                                    getattr(self, "health_check_port", None), state, reason, description)
        return original_health(self, target, ec2_backend)

    patch(FakeTargetGroup, "health_for", health_for, expects="(self, target, ec2_backend)")
