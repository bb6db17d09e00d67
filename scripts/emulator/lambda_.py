"""Lambda: invocations (from state machines and the Lambda API) go to
`cargo lambda watch`, so the real Rust functions run; a handler error becomes
a function error (`X-Amz-Function-Error`), as on AWS. moto serves Lambda from
its "simple" backend with use_docker off; both backends are patched.

Also here: which invocations are in flight (`Invocations`), so the call log
can name the function behind a call and `crash_after` can kill the
invocation that made one.

A crash kills one Lambda invocation, so the faults must know which
invocation made a call. `cargo lambda watch` runs each function in
processes of its own (the binary is named after the function), each running
one invocation at a time, so the process at the other end of a call's TCP
connection names the function, and when one invocation of it is in flight
(as in a deployment: its steps run one after another, the two side by side
being different functions) that invocation made the call. The process is
found as `ss -p` would: the client socket's inode in /proc/net/tcp*, then
the process holding it (Linux only; elsewhere no call is attributed and
`crash_after` never fires). Were several invocations of one function in
flight (concurrent deployments), the call's X-Ray trace id (which the AWS
SDK sends from the Lambda runtime's `_X_AMZN_TRACE_ID`, new for each
invocation) goes to the earliest of them that has none yet: exact only if
they start calling in the order they were invoked.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request

from .patch import patch

INVOKE = "(self, function_name, qualifier, body, headers, response_headers)"


def function_name(name_or_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:NAME[:qualifier]` or `NAME` -> `NAME`."""
    if ":function:" in name_or_arn:
        return name_or_arn.split(":function:", 1)[1].split(":", 1)[0]
    return name_or_arn


def install(lambda_url: str, invocations: Invocations) -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self, function_name_or_arn, qualifier, body, headers, response_headers):
        name = function_name(function_name_or_arn)
        data = body if isinstance(body, bytes) else (body or "{}").encode()
        invocation = invocations.start(name)
        try:
            payload = call_function(lambda_url, name, data, response_headers)
        finally:
            invocations.end(invocation)
        if invocation.crashed:
            # What Step Functions sees of a Lambda that died mid-invocation
            # (killed at its timeout, out of memory, a panic with
            # `panic = "abort"`): no answer from the handler, the runtime's error.
            payload = json.dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {invocation.number} Error: Task timed out "
                                f"(emulator: crashed after {invocation.crashed})",
            }).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    patch(LambdaBackend, "invoke", invoke, expects=INVOKE)
    patch(LambdaSimpleBackend, "invoke", invoke, expects=INVOKE)


def call_function(lambda_url: str, name: str, data: bytes, response_headers) -> bytes:
    req = urllib.request.Request(
        f"{lambda_url}/2015-03-31/functions/{name}/invocations",
        data=data,
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=900) as resp:
            payload = resp.read()
    except urllib.error.HTTPError as err:
        payload = err.read()
        try:
            error_type = json.loads(payload).get("errorType")
        except (ValueError, AttributeError):
            error_type = None
        if not error_type:
            payload = json.dumps(
                {
                    "errorType": "Lambda.ServiceException",
                    "errorMessage": f"local Lambda runtime answered HTTP {err.code} for {name}: {payload[:300]!r}",
                }
            ).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
    except (urllib.error.URLError, OSError) as err:
        payload = json.dumps(
            {
                "errorType": "Lambda.ServiceException",
                "errorMessage": f"local Lambda runtime unreachable for {name}: {err}",
            }
        ).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


class Invocation:
    def __init__(self, number: int, function: str):
        self.number = number
        self.function = function
        self.trace: str | None = None
        self.crashed = ""  # what the invocation crashed after ("ec2 CreateVpc"), once it has


class Invocations:
    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight: list[Invocation] = []
        self.numbers = 0
        self.functions: set[str] = set()  # the functions ever invoked through the emulator
        self.sockets: dict[str, str] = {}  # socket inode -> the function whose process holds it

    def start(self, function: str) -> Invocation:
        with self.lock:
            self.numbers += 1
            invocation = Invocation(self.numbers, function)
            self.in_flight.append(invocation)
            self.functions.add(function)
            return invocation

    def end(self, invocation: Invocation) -> None:
        with self.lock:
            self.in_flight.remove(invocation)

    def function_at(self, client_port: int, server_port: int) -> str | None:
        """The function whose process holds the client end of a connection to us."""
        inode = socket_inode(client_port, server_port)
        if inode is None:
            return None
        with self.lock:
            if inode in self.sockets:
                return self.sockets[inode]
            functions = set(self.functions)
        function = process_holding(inode, functions)
        if function:
            with self.lock:
                self.sockets[inode] = function
        return function

    def of(self, function: str, trace: str) -> Invocation | None:
        """The function's invocation in flight that made a call carrying this trace id."""
        with self.lock:
            mine = [i for i in self.in_flight if i.function == function]
            for invocation in mine:
                if trace and invocation.trace == trace:
                    return invocation
            for invocation in mine:  # the one cargo lambda runs: the first it was given
                if invocation.trace is None:
                    invocation.trace = trace or None
                    return invocation
        return mine[0] if len(mine) == 1 else None


def socket_inode(client_port: int, server_port: int) -> str | None:
    """The inode of the local socket from `client_port` to `server_port`.
    The tables hold every socket, TIME_WAIT ones too (thousands in a test
    run), so the line is found by one search, not by parsing them all."""
    line = re.compile(rf"^\s*\d+: [0-9A-F]+:{client_port:04X} [0-9A-F]+:{server_port:04X} .*$", re.MULTILINE)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                found = line.search(f.read())
        except OSError:
            continue
        if found:
            return found.group(0).split()[9]
    return None


def process_holding(inode: str, functions: set[str]) -> str | None:
    """Which of these functions' processes holds the socket."""
    target = f"socket:[{inode}]"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            name = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            if name not in functions:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return name
        except OSError:
            continue
    return None
