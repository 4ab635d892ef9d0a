"""The package as a user gets it: the wheel installs one top-level package (`aligner`, with the
app inside as `aligner.ui`), and `aligner --help` / `aligner review --help` work from a fresh
venv, run outside the source tree.

Kept offline and fast: the wheel is built without build isolation (this environment's
setuptools), the fresh venv has no pip of its own and sees this environment's third-party
packages through a `.pth` line, and aligner itself is installed only from the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "aligner", "ui", "pipelines")  # what the build reads


def _run(*cmd, cwd: Path, env=None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (the build leaves nothing in the tree)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out), str(src), cwd=src)  # fmt: skip
    (built,) = out.glob("aligner-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"aligner"}  # no `ui`, no `pipelines` to collide with a user's modules
    assert "aligner/ui/app.py" in names and "aligner/pipelines/__init__.py" in names
    assert "aligner/tan/train.py" in names


@pytest.mark.slow  # ~15-30 s: a venv, a wheel install and three interpreter start-ups
def test_installed_wheel_runs_outside_the_source_tree(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp_path).strip())  # fmt: skip
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--ignore-installed", "-q", str(wheel), cwd=tmp_path)  # fmt: skip
    # after the install: third-party packages from this environment, aligner from the wheel only
    (site / "zz_deps.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    aligner = str(env_dir / "bin" / "aligner")
    assert "auto-align" in _run(aligner, "--help", cwd=elsewhere, env=env)
    assert "--port" in _run(aligner, "review", "--help", cwd=elsewhere, env=env)
    where = _run(python, "-c", "import importlib.util as u, aligner;"
                 " from aligner.review_launcher import app_path;"
                 " print(aligner.__file__); print(app_path()); print(u.find_spec('ui'))",
                 cwd=elsewhere, env=env).split()  # fmt: skip
    assert all(Path(p).is_relative_to(site) for p in where[:2]), where
    assert Path(where[1]).is_file() and where[2] == "None"  # the app ships; no top-level `ui`
    installed = {p.name for p in site.iterdir()} - {"zz_deps.pth", "__pycache__"}
    assert {n for n in installed if not n.startswith("aligner")} <= {"_virtualenv.py"}, installed


def _dependency_dirs() -> list[str]:
    """This environment's site-packages folders, minus anything that would supply `aligner`."""
    dirs = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    dirs.append(sysconfig.get_paths()["purelib"])
    return [d for d in dict.fromkeys(dirs) if not (Path(d) / "aligner").is_dir()]
