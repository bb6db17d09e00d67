"""The state machine definitions, the template and the local stack agree."""

import re

from conftest import ROOT

import stack as stk


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


def test_the_emulator_accepts_the_rendered_definitions(local):
    sfn = local.c("stepfunctions")
    for name in ("deploy", "teardown"):
        arn = local.env[f"STEPDEPLOY_{name.upper()}_STATE_MACHINE_ARN"]
        definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        assert "${" not in definition
