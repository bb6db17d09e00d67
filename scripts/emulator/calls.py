"""The call log, and the wrapper around moto's request dispatcher through
which every call passes.

Every AWS call the emulator answers is recorded as (service, action), with
the function that made it when calls are attributed (see `lambda_`), and
whether a fault answered it or a crashed invocation made it:
`GET /_stepdeploy/calls?since=N` lists those after the Nth, so tests can
count what a run called (a dry run: no mutating call at all) independently
of what the code says it did.

The wrapper (`install`) serves the control endpoints (`control`) beside
moto's API, records each call, refuses the calls of a crashed invocation,
and lets the armed faults (`faults`) answer in moto's place or rewrite its
answer.
"""

from __future__ import annotations

import io
import json
import threading
from http import HTTPStatus
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qs

from .faults import Request, error_answer
from .patch import patch

if TYPE_CHECKING:
    from .faults import Faults
    from .lambda_ import Invocations


class CallLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries: list[dict] = []

    def append(self, entry: dict) -> None:
        with self.lock:
            self.entries.append(entry)

    def mark(self, entry: dict, key: str, value) -> None:
        """Note on a logged call what became of it (`fault`, `crashed`)."""
        with self.lock:
            entry[key] = value

    def endpoint(self, environ: dict) -> tuple[int, dict]:
        """`/_stepdeploy/calls?since=N`: the calls after the Nth, and how many there are."""
        since = int(parse_qs(environ.get("QUERY_STRING", "")).get("since", ["0"])[0] or 0)
        with self.lock:
            return 200, {"count": len(self.entries), "calls": self.entries[since:]}


def aws_call(environ: dict, body: bytes) -> dict:
    """(service, action) of an AWS request, whatever its protocol: the
    service from the SigV4 credential scope, the action from `X-Amz-Target`
    (JSON protocols) or `Action=` (query protocols)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = ""
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        service = scope[3] if len(scope) > 3 else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    else:
        query = environ.get("QUERY_STRING", "") + "&" + body.decode("utf-8", "replace")
        action = parse_qs(query).get("Action", [""])[0]
    if not action:
        action = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    return {"service": service, "action": action}


def reply(start_response, status: int, headers: list, body: bytes):
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    start_response(f"{status} {phrase}", headers)
    return [body]


def json_reply(start_response, status: int, doc: dict):
    body = json.dumps(doc).encode()
    return reply(start_response, status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body)


def install(log: CallLog, faults: Faults, invocations: Invocations,
            routes: dict[str, Callable[[dict], tuple[int, dict]]]) -> None:
    """Record every call, serve the control endpoints (`routes`: path ->
    handler) beside moto's API, and let the armed faults answer in moto's place."""
    from moto import backends
    from moto.server import DomainDispatcherApplication

    # moto's dispatcher lists its own package folder (a listdir and an isdir
    # per entry, about 150) on every request to tell a service's name from a
    # host; the installed package does not change while the server runs.
    modules: list[str] = []
    modules += patch(backends, "list_of_moto_modules", lambda: modules, expects="()")()

    original = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in routes:
            return json_reply(start_response, *routes[path](environ))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        entry = aws_call(environ, body)
        invocation = None
        if entry["service"] and environ.get("REMOTE_PORT") and invocations.in_flight and faults.attributing():
            function = invocations.function_at(int(environ["REMOTE_PORT"]), int(environ.get("SERVER_PORT") or 0))
            if function:
                entry["function"] = function
                invocation = invocations.of(function, environ.get("HTTP_X_AMZN_TRACE_ID", ""))
        log.append(entry)
        if not entry["service"] or path.startswith("/moto-api"):
            return original(self, environ, start_response)  # not an AWS call: no faults
        req = Request(environ, body, entry, invocation)
        if invocation and invocation.crashed:
            # A dead invocation's calls never land.
            log.mark(entry, "crashed", True)
            message = f"the Lambda invocation making this call crashed after {invocation.crashed} (emulator fault)"
            return reply(start_response, *error_answer(req, "InvocationCrashed", message, 400))
        injected = faults.before(req)
        if injected:
            status, headers, answer, number = injected
            log.mark(entry, "fault", number)
            return reply(start_response, status, headers, answer)
        if not faults.want_answer():
            return original(self, environ, start_response)
        seen: dict = {"written": []}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return seen["written"].append

        result = original(self, environ, capture)
        try:
            answer = b"".join([*seen["written"], *result])
        finally:
            getattr(result, "close", lambda: None)()
        answer = faults.after(req, int(seen["status"].split(" ", 1)[0]), answer)
        headers = [(k, str(len(answer)) if k.lower() == "content-length" else v) for k, v in seen["headers"]]
        start_response(seen["status"], headers)
        return [answer]

    patch(DomainDispatcherApplication, "__call__", call, expects="(self, environ, start_response)")
