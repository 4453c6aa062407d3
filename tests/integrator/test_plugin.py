"""The pytest plugin as a user meets it (CONTRACT §7.3): refserver installed with pip from this
checkout into a throwaway virtualenv, and the README's complete example run there by pytest —
a client's tests, then `refserver coverage --fail-under` and its JUnit file (a CI-style run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a virtualenv, a pip install and server sessions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(
    r"<!-- plugin-example: begin -->\n```python\n(.*?)```\n<!-- plugin-example: end -->", re.S
)


def readme_example() -> str:
    found = EXAMPLE.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md has no plugin example between its markers"
    return found.group(1)


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(python of a new virtualenv with refserver pip-installed from this checkout, project dir).

    Its dependencies come from this environment's site-packages (a .pth line), so the test needs
    no index; refserver itself — package, console script, pytest11 entry point — is the wheel pip
    builds from the checkout, not this editable install."""
    base = tmp_path_factory.mktemp("throwaway")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "deps-from-dev-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    src = base / "checkout"  # the checkout's files (tracked and new), without build leftovers
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(src)],
        check=True, capture_output=True, text=True, env=_env(),
    )  # fmt: skip
    where = subprocess.run(
        [str(python), "-c", "import app; print(app.__file__)"],
        check=True, capture_output=True, text=True, cwd=base,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where  # the installed copy, not this checkout
    project = base / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_my_client.py").write_text(readme_example())
    yield python, project


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("REFSERVER_", "PYTEST_", "PYTHONPATH"))}


def _run_example(python: Path, project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=project, capture_output=True, text=True, env=_env(), timeout=240,
    )  # fmt: skip


def test_readme_example_passes_in_a_throwaway_project(throwaway: tuple[Path, Path]) -> None:
    """The fixture starts a server, the client tests run against it, and the coverage gate
    reads `refserver coverage --fail-under` and its JUnit file — all from the pip-installed copy."""
    python, project = throwaway
    run = _run_example(python, project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout, run.stdout


def test_fixture_stops_the_server_when_the_session_fails(
    throwaway: tuple[Path, Path], tmp_path: Path
) -> None:
    """A failing session still stops the server: its port is closed afterwards."""
    python, project = throwaway
    (project / "test_zz_fails.py").write_text(
        "def test_fails(refserver):\n"
        "    open('port.txt', 'w').write(refserver.url)\n"
        "    raise AssertionError('boom')\n"
    )
    try:
        run = _run_example(python, project, "test_zz_fails.py")
    finally:
        (project / "test_zz_fails.py").unlink()
    assert run.returncode == 1 and "boom" in run.stdout
    url = (project / "port.txt").read_text()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=5)


@pytest.mark.postgres
def test_readme_example_on_postgres(throwaway: tuple[Path, Path], pg_url: str) -> None:
    """`--refserver-database-url` points the fixture's server at PostgreSQL."""
    python, project = throwaway
    run = _run_example(python, project, "--refserver-database-url", pg_url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout, run.stdout
