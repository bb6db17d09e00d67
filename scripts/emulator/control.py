"""The emulator's control endpoints: every one, in one place.

On the AWS endpoint (`--port`, `$AWS_ENDPOINT_URL`), beside moto's API,
answered with JSON and never recorded as calls:

`/_stepdeploy/calls` (`calls.CallLog`)
    GET `?since=N`: `{"count": total, "calls": [...]}`, the calls after the
    Nth, each `{"service", "action"}` (the SigV4 scope's service; the
    `X-Amz-Target` or `Action=` action, else "METHOD /path"), plus
    `"function"` when attributed, `"fault": id` when a fault answered it,
    `"crashed": true` when a crashed invocation made it.

`/_stepdeploy/faults` (`faults.Faults`)
    POST `{"faults": [{"kind", "service", "action", "count", "contains",
    "code", "status", "state", "value"}, ...]}` arms them, all or none (400
    with `{"error"}` if one is invalid) and answers `{"armed": [...]}` with
    the listing; GET lists `{"armed": [...], "fired": [...], "settings":
    {...}}`; DELETE clears every fault and puts the settings back to their
    start-up values. Kinds: throttle, server_error, not_found_after_create,
    stuck, crash_after; settings: rollout_seconds, elastic_ip_limit,
    attribute_calls (see `faults`).

`/_stepdeploy/clock` (`scheduler.Clock`)
    GET `{"offset_seconds", "now"}`; POST `{"advance_seconds": N}` moves
    EventBridge Scheduler's clock on by N seconds; DELETE puts it back to
    real time. Other methods: 405.

moto's own, on the same port: `POST /moto-api/config` (the emulator turns on
Step Functions execution and turns off Lambda's docker at start-up),
`POST /moto-api/reset`, the dashboard at `/moto-api/`. They are logged but
never faulted.

On the Docker Hub port (`--docker-hub-port`, `registries`): the registry API
(`/v2/`, `/token`, manifests and blobs) and the storage at
`/_storage/<digest>`, where registry blob GETs and ECR's
GetDownloadUrlForLayer point.

On the fake GitHub's port (`--github-port`, `github`): `PUT /_files`,
`GET /_calls`, `POST|DELETE /_faults`, `POST /_config`, `GET /_tokens`,
`GET /_comments` (see `github`'s docstring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .calls import CallLog
    from .faults import Faults
    from .scheduler import Clock


def routes(log: CallLog, faults: Faults, clock: Clock) -> dict[str, Callable[[dict], tuple[int, dict]]]:
    """Path -> handler (WSGI environ -> status, JSON document) for the
    endpoints on the AWS port, as documented above."""
    return {
        "/_stepdeploy/calls": log.endpoint,
        "/_stepdeploy/faults": faults.endpoint,
        "/_stepdeploy/clock": clock.endpoint,
    }
