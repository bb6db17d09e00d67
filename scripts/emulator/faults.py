"""Faults: a hostile AWS on demand. Real AWS throttles, fails and is
eventually consistent; moto is none of these.

Off unless asked, over HTTP beside moto's API (see `control`):
`POST /_stepdeploy/faults` with
`{"faults": [{"kind": K, "service": S, "action": A, "count": N}, ...]}`
arms them (service and action optional: any), `GET` lists what is armed and
what fired, `DELETE` clears them. Kinds (see `FAULT_KINDS`): `throttle` and
`server_error` answer the next N matching calls with the service's own
throttling or internal error, in its protocol; `not_found_after_create` lets
a matching EC2 create succeed, then answers the next N calls that name the
new id with EC2's not-found code for it; `stuck` keeps a resource short of
ready (rds, elasticloadbalancing, ec2 NAT gateways, ecs rollouts);
`crash_after` lets the `count`th matching mutating call made by a Lambda
invocation succeed, then kills that invocation: Step Functions sees
`Sandbox.Timedout`. Three kinds change a setting (`Settings`, with `value`)
instead: `rollout_seconds` (how long a simulated ECS rollout takes),
`elastic_ip_limit` (the Elastic IP limit EC2 reports, 1000 by default) and
`attribute_calls` (true: the call log names the function behind each call;
always on while a crash is armed).

Each call the emulator answers is offered to every armed fault, in the order
they were armed: a fault's `before` may answer in moto's place (the call then
never reaches moto: it took no effect), and its `after` sees moto's answer.
A new kind is a `Fault` subclass with its own hooks, named in `FAULT_KINDS`;
kinds that act on a whole Lambda invocation (a crash after a call) or on a
resource's life (a resource stuck short of ready) fit the same two hooks, the
second with the backends' models at hand as `ecs` has (`Faults.stuck_rollout`).
"""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .lambda_ import Invocation

# The account moto answers as (its default, and what the local stack uses).
ACCOUNT_ID = "123456789012"

# Each service's throttling and internal-error codes, as AWS answers them;
# others default by protocol (`DEFAULT_CODES`).
THROTTLE_CODES = {
    "ec2": ("RequestLimitExceeded", 503),
    "lambda": ("TooManyRequestsException", 429),
    "s3": ("SlowDown", 503),
}
SERVER_ERROR_CODES = {
    "ec2": "InternalError",
    "rds": "InternalFailure",
    "elasticloadbalancing": "ServiceUnavailable",
    "ecs": "ServerException",
    "ecr": "ServerException",
    "logs": "ServiceUnavailableException",
    "dynamodb": "InternalServerError",
    "secretsmanager": "InternalServiceError",
    "lambda": "ServiceException",
    "s3": "InternalError",
}
DEFAULT_CODES = {  # protocol -> (throttling code, its HTTP status, internal error code)
    "ec2": ("RequestLimitExceeded", 503, "InternalError"),
    "query": ("Throttling", 400, "InternalFailure"),
    "json": ("ThrottlingException", 400, "InternalFailure"),
    "rest-json": ("ThrottlingException", 429, "InternalFailure"),
    "rest-xml": ("SlowDown", 503, "InternalError"),
}

# EC2 creates whose new id `not_found_after_create` hides: the element of the
# create's answer holding the id, and the code EC2 answers for an unknown one.
EC2_CREATES = {
    "CreateVpc": ("vpcId", "InvalidVpcID.NotFound", "The vpc ID '{id}' does not exist"),
    "CreateSubnet": ("subnetId", "InvalidSubnetID.NotFound", "The subnet ID '{id}' does not exist"),
    "CreateInternetGateway": ("internetGatewayId", "InvalidInternetGatewayID.NotFound",
                              "The internetGateway ID '{id}' does not exist"),
    "CreateSecurityGroup": ("groupId", "InvalidGroup.NotFound", "The security group '{id}' does not exist"),
    "AllocateAddress": ("allocationId", "InvalidAllocationID.NotFound", "The allocation ID '{id}' does not exist"),
    "CreateRouteTable": ("routeTableId", "InvalidRouteTableID.NotFound", "The routeTable ID '{id}' does not exist"),
    "CreateNatGateway": ("natGatewayId", "InvalidNatGatewayID.NotFound", "The natGateway ID '{id}' does not exist"),
}


# Actions that only read: every other call changes something.
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Query", "Scan", "Head", "GET ", "HEAD ")


class Request:
    """An AWS call as the faults see it: who it is for and what it says."""

    def __init__(self, environ: dict, body: bytes, call: dict, invocation: Invocation | None = None):
        self.environ = environ
        self.body = body
        self.service = call["service"]
        self.action = call["action"]
        self.invocation = invocation  # the Lambda invocation that made the call, if one did
        if environ.get("HTTP_X_AMZ_TARGET"):
            self.protocol = "json"
        elif self.service == "ec2":
            self.protocol = "ec2"
        elif self.service == "s3":
            self.protocol = "rest-xml"
        elif " " not in self.action:  # an `Action=` parameter: the query protocol
            self.protocol = "query"
        else:
            self.protocol = "rest-json"

    def says(self, text: str) -> bool:
        """Whether the request (its query string or body) contains this text."""
        return text in self.environ.get("QUERY_STRING", "") or text.encode() in self.body

    def params(self) -> dict[str, list[str]]:
        """A query-protocol request's parameters (URL and form body)."""
        return parse_qs(self.environ.get("QUERY_STRING", "") + "&" + self.body.decode("utf-8", "replace"))

    @property
    def mutating(self) -> bool:
        """Whether the call changes something (by its action's name, as AWS names them)."""
        return not self.action.startswith(READ_PREFIXES)

    def names(self, resource_id: str) -> bool:
        """Whether the request names this id as a parameter (not inside a
        `Filter`: AWS answers a filter on an unknown id with nothing)."""
        return any(resource_id in values for key, values in self.params().items() if not key.startswith("Filter."))


def error_answer(req: Request, code: str, message: str, status: int) -> tuple[int, list, bytes]:
    """An AWS error in the protocol the service speaks, as its SDKs parse it:
    EC2's `<Response><Errors><Error><Code>`, the query protocol's
    `<ErrorResponse><Error><Code>`, the JSON protocols' `__type` (and the
    `x-amzn-ErrorType` header REST-JSON services read)."""
    from html import escape
    from uuid import uuid4

    request_id = str(uuid4())
    if req.protocol == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
    elif req.protocol in ("query", "rest-xml"):
        fault = "Receiver" if status >= 500 else "Sender"
        error = f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        body = (f"<ErrorResponse>{error}<RequestId>{request_id}</RequestId></ErrorResponse>" if req.protocol == "query"
                else f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{error}")
        headers = [("Content-Type", "text/xml")]
    else:
        content_type = req.environ.get("CONTENT_TYPE", "")
        if not content_type.startswith("application/x-amz-json"):
            content_type = "application/x-amz-json-1.1" if req.protocol == "json" else "application/json"
        body = json.dumps({"__type": code, "message": message})
        headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code)]
    data = body.encode()
    return status, headers + [("x-amzn-RequestId", request_id), ("Content-Length", str(len(data)))], data


class Fault:
    """An armed fault: `{"kind", "service", "action", "count"}` (service and
    action optional: any), and optionally `contains` (only requests whose
    query or body contain this text, e.g. an app's name in a create's tags),
    `code` and `status` (answer these instead of the service's own)."""

    kind = ""
    needs_answer = False  # whether `after` wants moto's answer

    def __init__(self, number: int, spec: dict):
        self.number = number
        self.service = spec.get("service") or None
        self.action = spec.get("action") or None
        self.count = spec.get("count", 1)
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ValueError(f"{self.kind}: count must be a whole number of calls, at least 1, not {self.count!r}")
        self.remaining = self.count
        self.code = spec.get("code")
        self.status = spec.get("status")
        self.contains = spec.get("contains") or None

    def matches(self, req: Request) -> bool:
        return (self.service in (None, req.service) and self.action in (None, req.action)
                and (self.contains is None or req.says(self.contains)))

    def before(self, req: Request) -> tuple[int, list, bytes, dict] | None:
        """An answer in moto's place (with what to record as fired), or None."""
        return None

    def after(self, req: Request, status: int, body: bytes) -> dict | None:
        """Moto answered `req` (only called while `waiting`): None if the
        fault let it be, else what it did, to record as fired, with the
        answer's new `body` if it rewrote it."""
        return None

    @property
    def waiting(self) -> bool:
        return False

    def describe(self) -> dict:
        return {"id": self.number, "kind": self.kind, "service": self.service, "action": self.action,
                "contains": self.contains, "count": self.count, "remaining": self.remaining}


class Throttle(Fault):
    """The next `count` matching calls answer the service's throttling error."""

    kind = "throttle"

    def before(self, req):
        if self.remaining <= 0 or not self.matches(req):
            return None
        self.remaining -= 1
        code, status = THROTTLE_CODES.get(req.service, DEFAULT_CODES[req.protocol][:2])
        code, status = self.code or code, self.status or status
        answer = error_answer(req, code, f"Rate exceeded (emulator fault {self.number})", status)
        return (*answer, {"code": code, "status": status})


class ServerError(Fault):
    """The next `count` matching calls answer HTTP 500 with the service's internal error."""

    kind = "server_error"

    def before(self, req):
        if self.remaining <= 0 or not self.matches(req):
            return None
        self.remaining -= 1
        code = self.code or SERVER_ERROR_CODES.get(req.service, DEFAULT_CODES[req.protocol][2])
        status = self.status or 500
        message = f"We encountered an internal error. Please try again. (emulator fault {self.number})"
        return (*error_answer(req, code, message, status), {"code": code, "status": status})


class NotFoundAfterCreate(Fault):
    """The first matching EC2 create succeeds; then the next `count` calls
    that name its new id answer EC2's not-found code for it, as EC2 does for
    a few seconds after a create (eventual consistency)."""

    kind = "not_found_after_create"
    needs_answer = True

    def __init__(self, number, spec):
        super().__init__(number, spec)
        if self.service not in (None, "ec2"):
            raise ValueError(f"not_found_after_create: EC2 creates only, not service {self.service!r}")
        if self.action is not None and self.action not in EC2_CREATES:
            raise ValueError(f"not_found_after_create: action must be one of {sorted(EC2_CREATES)}, not {self.action!r}")
        self.created: str | None = None  # the new id, once a matching create succeeded
        self.created_by = ""

    @property
    def waiting(self):
        return self.created is None

    def after(self, req, status, body):
        if req.service != "ec2" or req.action not in EC2_CREATES or not self.matches(req) or status != 200:
            return
        element = EC2_CREATES[req.action][0]
        found = re.search(rf"<{element}>([^<]+)</{element}>".encode(), body)
        if found:
            self.created = found.group(1).decode()
            self.created_by = req.action

    def before(self, req):
        if self.created is None or self.remaining <= 0 or req.service != "ec2" or not req.names(self.created):
            return None
        self.remaining -= 1
        _, code, message = EC2_CREATES[self.created_by]
        status = self.status or 400
        return (*error_answer(req, code, message.format(id=self.created), status),
                {"code": code, "status": status, "resource": self.created})

    def describe(self):
        return {**super().describe(), "created": self.created}


class Stuck(Fault):
    """A resource that never gets ready (matching `contains`, e.g. the app's
    name). Armed until cleared.
    - `rds`: every describe of the DB instance says `stopped` (or `state`);
    - `elasticloadbalancing`: the load balancer is `failed`;
    - `ec2`: the NAT gateway is `failed`, with AWS's failure code and message
      (each new one the code creates fails too);
    - `ecs`: the service's rollouts never complete: its tasks start, fail the
      target group's health checks and are stopped, again and again, as ECS
      reports in the service's events (see `ecs`)."""

    kind = "stuck"
    needs_answer = True
    NAT_FAILURE = ("<failureCode>InsufficientFreeAddressesInSubnet</failureCode><failureMessage>Subnet has "
                   "insufficient free addresses to create this NAT gateway (emulator fault)</failureMessage>")
    STATES = {
        "rds": ("DescribeDBInstances", rb"<DBInstanceStatus>[^<]*</DBInstanceStatus>", "<DBInstanceStatus>{}</DBInstanceStatus>", "stopped"),
        "elasticloadbalancing": ("DescribeLoadBalancers", rb"<Code>(?:active|provisioning|active_impaired)</Code>", "<Code>{}</Code>", "failed"),
        "ec2": ("DescribeNatGateways", rb"<state>(?:pending|available)</state>", "<state>{}</state>", "failed"),
        "ecs": None,
    }

    def __init__(self, number: int, spec: dict):
        super().__init__(number, spec)
        if self.service not in self.STATES:
            raise ValueError(f"stuck: service must be one of {sorted(self.STATES)}, not {self.service!r}")
        self.rewrites: dict[str, tuple[bytes, bytes]] = {}  # action -> (pattern, replacement)
        if self.service == "ecs":
            self.needs_answer = False  # the rollout simulation asks `stuck_rollout` instead
            return
        action, pattern, template, default = self.STATES[self.service]
        state = spec.get("state") or default
        replacement = template.format(state).encode()
        if self.service == "ec2" and state == "failed":
            replacement += self.NAT_FAILURE.encode()
            # moto answers a new NAT gateway `available`; AWS says `pending`
            # (and the code polls it, to see it fail).
            self.rewrites["CreateNatGateway"] = (rb"<state>[^<]*</state>", b"<state>pending</state>")
        self.rewrites[action] = (pattern, replacement)

    @staticmethod
    def fail_nat_gateway(req: Request, body: bytes) -> None:
        """Fail the NAT gateway a create just made, in moto, as AWS fails one:
        `failed`, with a reason, its Elastic IP let go (so the next attempt
        can use it)."""
        from moto.ec2.models import ec2_backends

        found = re.search(rb"<natGatewayId>([^<]+)</natGatewayId>", body)
        scope = req.environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
        if not found or len(scope) < 3:
            return
        backend = ec2_backends[ACCOUNT_ID][scope[2]]
        nat = backend.nat_gateways.get(found.group(1).decode())
        if nat is None:
            return
        nat.state = "failed"
        nat.failure_code = "InsufficientFreeAddressesInSubnet"
        nat.failure_message = "Subnet has insufficient free addresses to create this NAT gateway (emulator fault)"
        for address in nat.address_set:
            association = address.get("associationId") or address.get("association_id")
            if association:
                backend.disassociate_address(association_id=association)

    @property
    def waiting(self) -> bool:
        return True

    def matches(self, req: Request) -> bool:
        return (req.service == self.service and req.action in self.rewrites
                and (self.contains is None or req.says(self.contains)))

    def after(self, req, status, body):
        if status != 200 or not self.matches(req):
            return None
        pattern, replacement = self.rewrites[req.action]
        if req.action == "CreateNatGateway":
            self.fail_nat_gateway(req, body)
        rewritten = re.sub(pattern, replacement, body)
        return {"body": rewritten} if rewritten != body else None


class CrashAfter(Fault):
    """The Lambda invocation that makes the `count`th matching mutating call
    dies right after that call succeeds: the call took effect, its answer is
    lost. The invocation's later calls fail (a dead process makes none that
    land), and Step Functions gets `Sandbox.Timedout`, as from a Lambda killed
    at its timeout. Only calls made by a Lambda invocation count."""

    kind = "crash_after"
    needs_answer = True

    def __init__(self, number, spec):
        super().__init__(number, spec)
        self.seen = 0

    @property
    def waiting(self):
        return self.remaining > 0

    def after(self, req, status, body):
        if status != 200 or not req.mutating or req.invocation is None or not self.matches(req):
            return None
        self.seen += 1
        if self.seen < self.count:
            return None
        self.remaining = 0
        req.invocation.crashed = f"{req.service} {req.action}"
        return {"function": req.invocation.function, "invocation": req.invocation.number}

    def describe(self):
        return {**super().describe(), "remaining": 1 if self.remaining else 0, "seen": self.seen}


FAULT_KINDS: dict[str, type[Fault]] = {k.kind: k for k in (Throttle, ServerError, NotFoundAfterCreate, Stuck, CrashAfter)}


class Settings:
    """Values the faults endpoint can change at run time (`rollout_seconds`,
    `elastic_ip_limit`, `attribute_calls`); DELETE /_stepdeploy/faults puts
    back the values the emulator started with."""

    def __init__(self, **startup):
        self.startup = dict(startup)
        self.current = dict(startup)

    def __getitem__(self, name: str):
        return self.current[name]

    def get(self, name: str, default=None):
        return self.current.get(name, default)


class Faults:
    """What is armed, what fired, and the run-time settings."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.armed: list[Fault] = []
        self.fired: list[dict] = []
        self.numbers = 0

    def add(self, specs: list) -> list[dict]:
        if not isinstance(specs, list):
            raise ValueError('expected {"faults": [{"kind": ..., ...}, ...]}')
        new, settings = [], {}
        for spec in specs:
            kind = spec.get("kind") if isinstance(spec, dict) else None
            if kind == "attribute_calls":
                if not isinstance(spec.get("value"), bool):
                    raise ValueError(f"attribute_calls: value must be true or false, not {spec.get('value')!r}")
                settings["attribute_calls"] = spec["value"]
            elif kind == "elastic_ip_limit":
                value = spec.get("value")
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"elastic_ip_limit: value must be a whole number, not {value!r}")
                settings["elastic_ip_limit"] = value
            elif kind == "rollout_seconds":
                value = spec.get("value")
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"rollout_seconds: value must be a number of seconds, not {value!r}")
                settings["rollout_seconds"] = float(value)
            elif kind in FAULT_KINDS:
                new.append(spec)
            else:
                raise ValueError(f"unknown fault kind {kind!r}: one of {sorted([*FAULT_KINDS, *self.settings.startup])}")
        with self.lock:  # all or nothing: validate every fault before arming any
            faults = [FAULT_KINDS[spec["kind"]](self.numbers + i + 1, spec) for i, spec in enumerate(new)]
            self.numbers += len(faults)
            self.armed += faults
            self.settings.current.update(settings)
            return [f.describe() for f in faults]

    def clear(self) -> None:
        with self.lock:
            self.armed, self.fired = [], []
            self.settings.current.update(self.settings.startup)

    def listing(self) -> dict:
        with self.lock:
            return {"armed": [f.describe() for f in self.armed], "fired": list(self.fired), "settings": dict(self.settings.current)}

    def before(self, req: Request):
        with self.lock:
            for fault in self.armed:
                answer = fault.before(req)
                if answer:
                    status, headers, body, what = answer
                    self.fired.append({"fault": fault.number, "kind": fault.kind, "service": req.service,
                                       "action": req.action, **what})
                    return status, headers, body, fault.number
        return None

    def stuck_rollout(self, service_name: str) -> int | None:
        """The `stuck` ecs fault (its number) armed for this ECS service, if any."""
        with self.lock:
            for fault in self.armed:
                if (fault.kind == "stuck" and fault.service == "ecs"
                        and (fault.contains is None or fault.contains in service_name)):
                    self.fired.append({"fault": fault.number, "kind": fault.kind, "service": "ecs",
                                       "action": "rollout", "resource": service_name})
                    return fault.number
        return None

    def attributing(self) -> bool:
        """Whether calls are traced to the Lambda invocation that made them:
        while a crash is armed, or when asked (`attribute_calls`). Finding a
        call's process reads the kernel's socket table, milliseconds a call,
        so it is off otherwise."""
        with self.lock:
            return bool(self.settings.get("attribute_calls")) or any(
                f.kind == "crash_after" and f.waiting for f in self.armed)

    def want_answer(self) -> bool:
        with self.lock:
            return any(f.needs_answer and f.waiting for f in self.armed)

    def after(self, req: Request, status: int, body: bytes) -> bytes:
        """Moto's answer, as the faults that wanted to see it leave it (a
        `stuck` fault rewrites the state a describe reports)."""
        with self.lock:
            for fault in self.armed:
                if fault.needs_answer and fault.waiting:
                    did = fault.after(req, status, body)
                    if did is not None:
                        body = did.pop("body", body)
                        self.fired.append({"fault": fault.number, "kind": fault.kind, "service": req.service,
                                           "action": req.action, **did})
        return body

    def endpoint(self, environ: dict) -> tuple[int, dict]:
        """`/_stepdeploy/faults`: GET lists, POST arms, DELETE clears."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return 200, self.listing()
        if method == "DELETE":
            self.clear()
            return 200, self.listing()
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
                armed = self.add(spec.get("faults") if isinstance(spec, dict) else None)
            except (ValueError, TypeError, AttributeError) as err:
                return 400, {"error": str(err)}
            return 200, {"armed": armed, **self.listing()}
        return 405, {"error": f"{method} not allowed: GET, POST or DELETE"}
