"""The emulator's patches of moto, checked without a stack: each applies to
the installed moto, and a moto that changed (another version, a method whose
parameters moved) stops the emulator at start-up with a message naming both."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import emulator  # noqa: E402
from emulator import patch as patching  # noqa: E402

PACKAGE = ROOT / "scripts" / "emulator"

# Every moto attribute the emulator replaces (or adds), by module.
PATCHED = {
    "LambdaBackend.invoke", "LambdaSimpleBackend.invoke",
    "StepFunctionResponse.send_task_failure",
    "DBInstance.save_automated_backup",
    "EC2ContainerServiceBackend.create_service", "EC2ContainerServiceBackend.update_service",
    "EC2ContainerServiceBackend.delete_service", "EC2ContainerServiceBackend.run_task",
    "EC2ContainerServiceBackend.stop_task", "EC2ContainerServiceBackend.list_tasks", "Task.advance",
    "FakeTargetGroup.health_for",
    "AccountAttributes.describe_account_attributes", "NetworkInterface.private_dns_name",
    "ECRBackend.complete_layer_upload", "ECRResponse.get_download_url_for_layer",
    "DomainDispatcherApplication.__call__", "moto.backends.list_of_moto_modules",
}


@pytest.fixture
def undo():
    """Put moto back after a test that patched it in this process."""
    yield
    patching.restore()


def test_every_patch_applies_to_the_installed_moto(undo):
    emulator.install("http://127.0.0.1:1", rollout_seconds=1.0)
    done = {f"{getattr(owner, '__qualname__', getattr(owner, '__name__', ''))}.{name}" for owner, name, _ in patching.applied}
    assert done == PATCHED
    assert len(patching.applied) == len(PATCHED)  # none patched twice


def test_the_pin_is_the_installed_moto():
    import moto

    assert patching.PINNED == moto.__version__, "scripts/requirements.txt and .venv disagree: run make tools"


def test_restore_puts_moto_back(undo):
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ecs.models import EC2ContainerServiceBackend, Task

    before = EC2ContainerServiceBackend.run_task
    emulator.install("http://127.0.0.1:1")
    assert EC2ContainerServiceBackend.run_task is not before
    patching.restore()
    assert EC2ContainerServiceBackend.run_task is before
    assert "advance" not in vars(Task) and not hasattr(NetworkInterface, "private_dns_name")


def test_no_moto_attribute_is_assigned_outside_the_helper():
    """`Class.attr = ...` or setattr() anywhere but patch.py would skip the checks."""
    offenders = []
    for path in PACKAGE.glob("*.py"):
        if path.name == "patch.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*[A-Z]\w*\.\w+\s*=[^=]", line) or "setattr(" in line:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders


class Backend:
    """Stands for a moto class whose method changed."""

    def describe(self, name, region=None):
        return name


def test_a_changed_signature_stops_with_both_signatures_named():
    with pytest.raises(patching.MotoChanged) as stopped:
        patching.patch(Backend, "describe", lambda self, name: name, expects="(self, name)")
    message = str(stopped.value)
    assert f"{__name__}.Backend.describe" in message
    assert "expected: (self, name)" in message
    assert "found:    (self, name, region=None)" in message
    assert f"moto installed: {patching.installed_moto()}; written for: {patching.PINNED}" in message
    assert Backend.describe.__name__ == "describe"  # not replaced
    assert isinstance(stopped.value, SystemExit)  # start-up ends with the message, no traceback


def test_another_moto_version_stops_with_both_versions_named(monkeypatch):
    import moto

    monkeypatch.setattr(moto, "__version__", "9.0.0")
    with pytest.raises(patching.MotoChanged) as stopped:
        patching.patch(Backend, "describe", lambda self, name, region=None: name, expects="(self, name, region=None)")
    message = str(stopped.value)
    assert f"moto installed: 9.0.0; written for: {patching.PINNED}" in message
    assert f"{__name__}.Backend.describe" in message
    assert "expected: (self, name, region=None)" in message and "found:    (self, name, region=None)" in message
    assert Backend.describe.__name__ == "describe"


def test_an_attribute_moto_gained_stops_an_addition():
    with pytest.raises(patching.MotoChanged, match=r"(?s)expected: absent .* found:    \(self, name, region=None\)"):
        patching.patch(Backend, "describe", property(lambda self: 1), expects=None)


def test_an_addition_is_undone(undo):
    patching.patch(Backend, "added", property(lambda self: 42), expects=None)
    assert Backend().added == 42
    patching.restore()
    assert not hasattr(Backend, "added")


def test_the_pin_is_read_from_the_requirements(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# tools\nboto3==1.0\nmoto[server]==5.2.5  # the emulator patches it\n")
    assert patching.pinned_moto(requirements) == "5.2.5"
    requirements.write_text("boto3==1.0\n")
    with pytest.raises(patching.MotoChanged, match="pins no moto version"):
        patching.pinned_moto(requirements)


def test_the_package_runs_as_a_script():
    done = subprocess.run([sys.executable, str(PACKAGE), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--lambda-url" in done.stdout and "--docker-hub-port" in done.stdout
