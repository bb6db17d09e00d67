"""The one way the emulator changes moto: `patch(owner, name, replacement,
expects=...)`.

Each patch relies on what moto's method takes and does in the version the
emulator was written for: the one scripts/requirements.txt pins. At start-up,
before anything is replaced, the helper checks that the installed moto is
that version and that the method's parameters are still the expected ones
(`expects`: the signature without annotations, as `inspect.signature`
prints it; `None` for an attribute moto lacks and the emulator adds). On any
difference the emulator stops (`MotoChanged`, a `SystemExit`) with a message
naming both versions, the class and method, and both signatures: a moto
upgrade then fails at once, by name, not later as a deployment that hangs.

`applied` lists what was replaced, in order; `restore()` undoes it (tests).
"""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
ABSENT = "absent (moto lacks it; the emulator adds it)"
_MISSING = object()


class MotoChanged(SystemExit):
    """The installed moto is not the one a patch was written for."""


def pinned_moto(requirements: Path = REQUIREMENTS) -> str:
    """The moto version scripts/requirements.txt pins (`moto[server]==X.Y.Z`)."""
    for line in requirements.read_text().splitlines():
        found = re.match(r"\s*moto(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
        if found:
            return found.group(1)
    raise MotoChanged(f"emulator: {requirements} pins no moto version (expected a line moto[server]==X.Y.Z)")


PINNED = pinned_moto()

# What `patch` replaced: (owner, name, what the class itself held before, or _MISSING).
applied: list[tuple[type | types.ModuleType, str, object]] = []


def shape(attribute: object) -> str:
    """An attribute's signature as the checks compare it: parameter names,
    kinds and defaults, no annotations (moto's change with `from __future__
    import annotations` without changing what a method takes)."""
    if attribute is _MISSING:
        return ABSENT
    if isinstance(attribute, property):
        return "property " + shape(attribute.fget)
    try:
        signature = inspect.signature(attribute)
    except (TypeError, ValueError):
        return f"<{type(attribute).__name__}, no signature>"
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def installed_moto() -> str:
    import moto

    return moto.__version__


def patch(owner: type | types.ModuleType, name: str, replacement: object, expects: str | None) -> object:
    """Replace `owner.name` (a class's attribute or a module's function) with
    `replacement` after checking moto's version
    and the attribute's signature (`expects`, or None when moto has no such
    attribute); answer what it was (to call from the replacement)."""
    original = getattr(owner, name, _MISSING)
    wanted = ABSENT if expects is None else expects
    found = shape(original)
    version = installed_moto()
    if version != PINNED or found != wanted:
        where = (f"{owner.__name__}.{name}" if isinstance(owner, types.ModuleType)
                 else f"{owner.__module__}.{owner.__qualname__}.{name}")
        by = getattr(replacement, "__module__", None) or "the emulator"
        raise MotoChanged(
            f"emulator: moto changed under the patch of {where} (in {by}):\n"
            f"  moto installed: {version}; written for: {PINNED} (scripts/requirements.txt)"
            f"{'' if version == PINNED else '  <- differs'}\n"
            f"  {where} expected: {wanted}\n"
            f"  {where} found:    {found}{'' if found == wanted else '  <- differs'}\n"
            f"Read what the patch relies on in the new moto, then update the patch, its `expects`"
            f" and the pin together.")
    applied.append((owner, name, vars(owner).get(name, _MISSING)))
    setattr(owner, name, replacement)
    return None if original is _MISSING else original


def restore() -> None:
    """Undo every patch, newest first (for tests in one process)."""
    while applied:
        owner, name, before = applied.pop()
        if before is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, before)
