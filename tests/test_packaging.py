"""What `pip install efficient-trl` gets: extras that match TRL's, every file the package reads at run time, and a
package that works outside the repository (its commands on its own shipped data and models)."""

import configparser
import json
import os
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import efficient_trl

ROOT = Path(__file__).resolve().parents[1]


def our_extra(extra: str) -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.extras_require"][extra].splitlines()
    return {(r := Requirement(line)).name: r for line in lines if line.strip() and not line.startswith("#")}


def trl_extra(extra: str) -> dict[str, Requirement]:
    """TRL's Requires-Dist lines with `extra == "<extra>"`, from the installed TRL's metadata."""
    declared = [Requirement(line) for line in requires("trl")]
    return {r.name: r for r in declared if r.marker is not None and r.marker.evaluate({"extra": extra})}


@pytest.mark.parametrize("extra", ["vllm", "deepspeed"])
def test_extras_pin_what_trl_declares(extra):
    ours, trl = our_extra(extra), trl_extra(extra)
    assert trl, f"TRL declares no {extra!r} extra any more"
    assert set(ours) == set(trl)
    for name, requirement in trl.items():
        assert ours[name].specifier == requirement.specifier, (name, str(ours[name]), str(requirement))


# What a wheel is built from, beside the package: the build configuration and the long description
BUILD_FILES = ("setup.cfg", "pyproject.toml", "README.md")


def tracked_package_files() -> set[str]:
    """The files of efficient_trl/ under version control: what the package may read at run time."""
    listed = subprocess.run(["git", "ls-files", "efficient_trl"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0 or not listed.stdout.strip():
        pytest.skip("not a git checkout")
    return set(listed.stdout.split())


def test_package_data_patterns_cover_every_shipped_file():
    # setup.cfg's package_data globs, applied to the tracked files: a data file or model added without a pattern
    # would be missing from `pip install efficient-trl`
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [part.strip() for part in config["options.package_data"]["efficient_trl"].split(",")]
    data = {path.removeprefix("efficient_trl/") for path in tracked_package_files() if not path.endswith(".py")}
    assert data, "no package data tracked"
    assert sorted(path for path in data if not any(fnmatch(path, pattern) for pattern in patterns)) == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A wheel built from a copy of the build inputs, installed with `pip install --target` into a new directory."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "efficient_trl", source / "efficient_trl", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # -v shows the build backend's own output, where setuptools warns about the project's metadata
    wheel_dir = root / "wheel"
    build = [*pip, "wheel", "-v", str(source), "--no-deps", "--no-build-isolation", "-w", str(wheel_dir)]
    built = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "SetuptoolsDeprecationWarning" not in built.stdout + built.stderr, built.stdout + built.stderr
    (wheel,) = wheel_dir.glob("efficient_trl-*.whl")
    target = root / "site"
    result = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return target


def run_installed(target: Path, cwd: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` run in `cwd` (outside the repository) with only the installed package on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_the_wheel_ships_every_package_file(installed):
    from efficient_trl.data import LOCAL_DATASETS

    shipped = {str(path.relative_to(installed)) for path in (installed / "efficient_trl").rglob("*") if path.is_file()}
    assert tracked_package_files() - shipped == set()
    assert {f"efficient_trl/data/{name}" for name in LOCAL_DATASETS.values()} <= shipped


@pytest.mark.slow
def test_the_installed_package_works_outside_the_repository(installed, tmp_path):
    result = run_installed(installed, tmp_path, sys.executable, "-m", "efficient_trl", "env")
    assert f"- efficient-trl: {efficient_trl.__version__} ({installed / 'efficient_trl'})" in result.stdout
    # the console script, with the command table
    result = run_installed(installed, tmp_path, str(installed / "bin" / "efficient-trl"), "--help")
    assert "evaluate" in result.stdout and "env" in result.stdout
    # a real command on the data and model shipped in the package
    model = installed / "efficient_trl" / "demo_model"
    command = ["evaluate", "--model", str(model), "--dataset", "gsm8k", "--num_problems", "2", "--k", "1"]
    command += ["--max_new_tokens", "16", "--output_dir", "out"]
    result = run_installed(installed, tmp_path, sys.executable, "-m", "efficient_trl", *command)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["num_problems"] == 2 and summary["model"] == str(model)
    assert "samples and summary in out" in result.stdout
    # the demo from the installed package alone: its starting model and problems ship inside it
    demo = ["demo", "--steps", "1", "--prompts_per_step", "2", "--num_generations", "2", "--alphas", "0.2"]
    demo += ["--eval_problems", "4", "--max_completion_length", "40", "--run_dir", "demo-run"]
    result = run_installed(installed, tmp_path, sys.executable, "-m", "efficient_trl", *demo)
    assert "| alpha=0.2 |" in result.stdout and "results in demo-run (plot: demo-run/tradeoff.png)" in result.stdout
    assert (tmp_path / "demo-run" / "tradeoff.png").is_file() and (tmp_path / "demo-run" / "alpha_0.2").is_dir()
    recorded = json.loads((tmp_path / "demo-run" / "eval" / "start" / "settings.json").read_text())
    assert recorded["model"] == str(installed / "efficient_trl" / "demo_model_graded")  # the demo's default task
