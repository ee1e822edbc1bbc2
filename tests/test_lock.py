"""The hash-pinned locks (scripts/lock.sh) hold what pyproject.toml asks for: every dependency
pinned once, inside its range, with hashes, and the test lock on exactly the runtime pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    text = (REPO / lock).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{lock}: {match[1]} has no hash"
            found[canonicalize_name(match[1])] = match[2]
    return found


PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.mark.parametrize(("lock", "wanted"), [
    ("requirements.lock", PROJECT["dependencies"]),
    ("requirements-test.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
])
def test_every_dependency_is_pinned_inside_its_range(lock: str, wanted: list[str]) -> None:
    pinned = pins(lock)
    for line in wanted:
        requirement = Requirement(line)
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{lock} lacks {requirement.name}: run scripts/lock.sh"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}: {requirement.name}=={version} is outside {requirement.specifier}")


def test_the_test_lock_installs_exactly_what_the_pi_installs() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert {name: test.get(name) for name in runtime} == runtime
