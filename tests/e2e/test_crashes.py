"""A Lambda that dies mid-step: right after each mutating AWS call of a first
deploy, one run per call, the invocation that made it crashes (the emulator's
`crash_after`: the call took effect, its answer is lost, Step Functions sees
`Sandbox.Timedout`). The state machine retries the step, the retry finds what
the lost call made, and the deploy ends SUCCEEDED with exactly one of every
resource, counted by ownership tags.

Which calls a first deploy makes is not written here: a reference deploy is
watched through the emulator's call log, and each case crashes after the
k-th of those calls (as the `n`th call of its service and action)."""

import pytest

from conftest import assert_crashed_once, crash_after_kth, deploy, new_app, watched_calls
from inventory import FIRST_DEPLOY, counts, inventory

# A first deploy's mutating calls (the dry run predicts the same number:
# tests/e2e/test_plan.py).
FIRST_DEPLOY_CALLS = 35


@pytest.fixture(scope="module")
def first_deploy_calls(local) -> list[tuple[str, str, str]]:
    """(service, action, function) of each mutating call a first deploy
    makes, in order, as the emulator saw them."""
    app = new_app(local, "crashref", "10.200.0.0/16")

    def run():
        _, desc = deploy(local, app)
        assert desc["status"] == "SUCCEEDED", desc.get("cause")

    calls = watched_calls(local, run)
    assert [c for c in calls if not c[2]] == [], calls  # every one made by a step's Lambda
    assert len(calls) == FIRST_DEPLOY_CALLS, calls
    return calls


@pytest.mark.parametrize("k", range(1, FIRST_DEPLOY_CALLS + 1))
def test_a_crash_right_after_each_call_of_a_first_deploy_is_retried_and_converges(faults, first_deploy_calls, k):
    app = new_app(faults, f"crash{k}", f"10.{200 + k}.0.0/16")
    call = crash_after_kth(faults, first_deploy_calls, k)

    arn, desc = deploy(faults, app)

    assert desc["status"] == "SUCCEEDED", (call, desc.get("cause"))
    assert_crashed_once(faults, arn, call)
    found = inventory(faults, app)
    assert counts(found) == FIRST_DEPLOY, (call, found)
    assert faults.item(f"ENV#{app}#production", "ENV")["status"] == "SUCCEEDED"
