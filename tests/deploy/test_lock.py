"""The lock files (docs/adr/0007-lock-file.md): every dependency pyproject.toml
names is pinned in them, at a version its range allows, with hashes, and
this test run's virtualenv holds exactly what requirements/test.lock says
(``./dev`` and so CI install from it)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What the locks are resolved for: the image and CI.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def read_lock(name: str) -> dict[str, tuple[Version, list[str]]]:
    """Each requirement of a lock file: its pinned version and its hashes."""
    text = (LOCKS / name).read_text()
    entries: dict[str, tuple[Version, list[str]]] = {}
    for statement in re.sub(r"\\\n", " ", text).splitlines():
        statement = statement.split("#", 1)[0].strip()
        if not statement:
            continue
        first, *options = statement.split()
        assert not first.startswith("-"), f"{name}: options other than --hash have no place in a lock: {statement}"
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^;\s]+)", first)
        assert match, f"{name}: not pinned with ==: {statement}"
        hashes = [option.removeprefix("--hash=") for option in options if option.startswith("--hash=")]
        assert len(hashes) == len(options), f"{name}: only --hash options may follow a pin: {statement}"
        entries[canonicalize_name(match[1])] = (Version(match[2]), hashes)
    return entries


def wanted(requirements: list[str]) -> list[Requirement]:
    parsed = [Requirement(line) for line in requirements]
    return [r for r in parsed if r.marker is None or r.marker.evaluate(TARGET)]


@pytest.mark.parametrize("name", ["runtime.lock", "test.lock", "tools.lock"])
def test_every_locked_requirement_is_pinned_with_sha256_hashes(name: str) -> None:
    entries = read_lock(name)
    assert entries
    for package, (_version, hashes) in entries.items():
        assert hashes, f"{name}: {package} has no hash"
        for digest in hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{name}: {package}: {digest}"


def test_the_locks_cover_every_dependency_pyproject_names() -> None:
    runtime, test = read_lock("runtime.lock"), read_lock("test.lock")
    project = PYPROJECT["project"]
    groups = {
        "runtime.lock": (runtime, project["dependencies"] + PYPROJECT["build-system"]["requires"]),
        "test.lock": (test, project["dependencies"] + project["optional-dependencies"]["test"]),
    }
    for lock, (entries, requirements) in groups.items():
        for requirement in wanted(requirements):
            name = canonicalize_name(requirement.name)
            assert name in entries, f"{requirement} (pyproject.toml) is not in {lock}: run ./dev lock"
            version = entries[name][0]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} pins {name}=={version}, outside {requirement} (pyproject.toml): run ./dev lock"
            )


def test_the_image_gets_the_versions_the_tests_ran_with() -> None:
    runtime, test = read_lock("runtime.lock"), read_lock("test.lock")
    for name, (version, _hashes) in runtime.items():
        assert name in test, f"{name} is in runtime.lock but not in test.lock: run ./dev lock"
        assert test[name][0] == version, f"{name}: runtime.lock {version}, test.lock {test[name][0]}"


def test_this_virtualenv_was_installed_from_the_lock() -> None:
    for name, (version, _hashes) in read_lock("test.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name}=={version} (test.lock) is not installed: run ./dev test")
        assert Version(installed) == version, f"{name}: installed {installed}, locked {version}: run ./dev test"
