"""The state machine definitions, the template and the local stack agree."""

import re

from conftest import ROOT

import local_stack as stk
from rust_source import settings_of


def placeholders(text):
    return set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))


def template_substitutions():
    """DefinitionSubstitutions keys per state machine, read from template.yaml."""
    text = (ROOT / "template.yaml").read_text()
    found = {}
    for block in re.split(r"\n  (?=\w+:\n    Type: AWS::Serverless::StateMachine)", text)[1:]:
        uri = re.search(r"DefinitionUri: (\S+)", block).group(1)
        subs = re.search(r"DefinitionSubstitutions:\n((?:        .*\n)+)", block)
        keys = set(re.findall(r"^        (\w+):", subs.group(1), re.M)) if subs else set()
        found[uri] = keys
    return found


def test_every_placeholder_is_substituted_by_the_template_and_the_local_stack():
    subs = template_substitutions()
    assert set(subs) == {"statemachine/deploy.asl.json", "statemachine/teardown.asl.json"}
    local = set(stk.substitutions(1))
    for uri, keys in subs.items():
        wanted = placeholders((ROOT / uri).read_text())
        assert keys == wanted, f"{uri}: template gives {sorted(keys)}, the ASL uses {sorted(wanted)}"
        assert wanted <= local, f"{uri}: the local stack lacks {sorted(wanted - local)}"


def test_every_function_crate_is_in_the_template_and_back():
    crates = {p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").exists()}
    binaries = set(re.findall(r"Binary: ([\w-]+)", (ROOT / "template.yaml").read_text()))
    assert crates == binaries
    assert set(stk.FUNCTIONS.values()) <= crates


def test_sam_builds_every_function_from_its_crate():
    """Each function resource is built by the Makefile's build-<LogicalId>
    target (BuildMethod: makefile), which copies its own crate's bootstrap."""
    text = (ROOT / "template.yaml").read_text()
    built = dict(re.findall(r"\n  (\w+):\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: makefile\n"
                            r"      BuildProperties:\n        Binary: ([\w-]+)\n", text))
    assert len(built) == text.count("Type: AWS::Serverless::Function"), "a function without BuildMethod: makefile"
    makefile = (ROOT / "Makefile").read_text()
    targets = dict(re.findall(r"(\w+Function)=([\w-]+)", re.search(r"SAM_FUNCTIONS :=(.*?)\n\n", makefile, re.S).group(1)))
    assert targets == built


def function_blocks():
    """template.yaml's function resources by binary name: their text."""
    text = (ROOT / "template.yaml").read_text()
    blocks = re.split(r"\n  (?=\w+:\n    Type: )", text)
    return {m.group(1): b for b in blocks if (m := re.search(r"Binary: ([\w-]+)", b))}


# Settings with a default that is right on AWS, which the template leaves unset.
DEFAULTED_ON_AWS = {"STEPDEPLOY_DOCKER_HUB_URL"}  # Docker Hub's own registry unless a mirror is named


def test_every_setting_a_function_reads_is_set_by_the_template_and_the_local_stack(local):
    """What a function reads from its environment, in its main.rs or anywhere in
    the library its main.rs reaches, the template gives it (or the Globals do),
    and so does the local stack's env file."""
    globals_ = re.search(r"\nGlobals:\n((?:  .*\n)+)", (ROOT / "template.yaml").read_text()).group(1)
    blocks = function_blocks()
    read = {crate: settings_of(crate) for crate in sorted(blocks)}
    # The derivation itself: settings read deep in the library are found.
    assert "STEPDEPLOY_TABLE" in read["provision-network"]  # aws/store.rs
    assert "STEPDEPLOY_MAX_CPU" in read["record-deployment"]  # spec.rs, the operator's limits
    assert "STEPDEPLOY_GITHUB_APP_KEY" in read["github"]  # steps/github.rs
    for crate, names in read.items():
        assert names, f"{crate}: no setting found (the call graph lost its way)"
        for name in sorted(names):
            assert f"{name}:" in blocks[crate] or f"{name}:" in globals_ or name in DEFAULTED_ON_AWS, \
                f"template.yaml does not set {name} for {crate}"
            assert name in local.env, f"the local stack does not set {name}"


def test_the_emulator_accepts_the_rendered_definitions(local):
    sfn = local.c("stepfunctions")
    for name in ("deploy", "teardown"):
        arn = local.env[f"STEPDEPLOY_{name.upper()}_STATE_MACHINE_ARN"]
        definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        assert "${" not in definition


def test_rendered_definitions_pass_statelint(tmp_path):
    import subprocess
    for name in ("deploy", "teardown"):
        rendered = tmp_path / f"{name}.json"
        rendered.write_text(stk.render_definition(ROOT / "statemachine" / f"{name}.asl.json", stk.substitutions(15)))
        result = subprocess.run([str(ROOT / ".venv" / "bin" / "statelint"), str(rendered)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def load_template():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !GetAtt, !Sub) as plain tagged values.
    Loader.add_multi_constructor("!", lambda loader, tag, node: {tag: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node)})
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)


# Resource "*" is unavoidable for these (no resource-level permissions), each for a reason.
STAR_ALLOWED = {
    "states:SendTaskSuccess", "states:SendTaskFailure",  # task tokens have no ARN
    "ecs:DeregisterTaskDefinition",  # no tag condition; the code checks each revision's tags
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}
READ_PREFIXES = ("Describe", "List", "Get")


def statements():
    for name, res in load_template()["Resources"].items():
        for policy in res.get("Properties", {}).get("Policies", []) or []:
            doc = policy.get("PolicyDocument", policy) if isinstance(policy, dict) else {}
            for st in doc.get("Statement", []):
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                yield name, actions, st.get("Resource"), st.get("Condition")


def test_policies_have_no_wildcard_actions_and_scope_every_mutation():
    seen = 0
    for name, actions, resource, condition in statements():
        for action in actions:
            seen += 1
            assert action != "*" and not action.endswith(":*"), f"{name}: wildcard action {action}"
            verb = action.split(":", 1)[1]
            if resource == "*" and not verb.startswith(READ_PREFIXES) and condition is None:
                assert action in STAR_ALLOWED, f"{name}: {action} on every resource with no condition"
            if action == "iam:PassRole":
                # The task execution role (to ECS) and the preview expiry role (to Scheduler), each by name.
                passed = {"ProvisionServiceFunction": "TaskExecutionRole.Arn",
                          "RecordDeploymentFunction": "PreviewExpiryRole.Arn"}
                assert resource == {"GetAtt": passed.get(name)}, f"{name}: PassRole beyond its one role"
                assert condition is not None, f"{name}: PassRole to any service"
    assert seen > 50


def test_no_account_id_or_region_is_written_down():
    text = (ROOT / "template.yaml").read_text()
    assert not re.search(r"\b\d{12}\b", text)
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b", text)
