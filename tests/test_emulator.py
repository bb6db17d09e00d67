"""The emulator's patches of moto, checked without a stack: each applies to
the installed moto, and a moto that changed (another version, a method whose
parameters moved) stops the emulator at start-up with a message naming both."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from emulator import patch as patching  # noqa: E402


@pytest.fixture
def undo():
    """Put moto back after a test that patched it in this process."""
    yield
    patching.restore()


def test_the_pin_is_the_installed_moto():
    import moto

    assert patching.PINNED == moto.__version__, "scripts/requirements.txt and .venv disagree: run make tools"




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
