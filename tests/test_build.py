"""The Lambda build (layers/common/Makefile, the targets `sam build` runs) on this machine: no Docker.

The layer is built once per session, by the same target SAM calls, into a temporary folder. Its
wheels must all load on Lambda python3.13 arm64, the runtime's boto3 and the test-only engines
must stay out, and every module must ship a precompiled cpython-313 .pyc. Size and build time are
printed (run with `-s`, or read them in the output of a failure).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.tools  # pip and make, tens of seconds
ROOT = Path(__file__).resolve().parent.parent
LAYER_SOURCE = ROOT / "layers" / "common"
BUILD_MAKEFILE = LAYER_SOURCE / "Makefile"
FORBIDDEN = ("boto3", "botocore", "numpy", "pandas", "pyarrow", "chdb")
PYC_313_MAGIC = b"\xf3\r\r\n"  # importlib.util.MAGIC_NUMBER of CPython 3.13
PYC_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source never checked
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # function and all its layers together
NO_PYTHON_313 = "no CPython 3.13 found"
MAKE = shutil.which("make") or "make"


@dataclass
class Build:
    folder: Path
    seconds: float
    output: str

    @property
    def precompiled(self) -> bool:
        return NO_PYTHON_313 not in self.output


def make(target: str, source: Path, artifacts: Path) -> Build:
    """Run one build target the way `sam build` does: in a copy of the source, ARTIFACTS_DIR set."""
    scratch = artifacts.parent / f"{artifacts.name}-scratch"
    shutil.copytree(source, scratch)  # local __pycache__ folders included, as SAM copies them
    started = time.perf_counter()
    result = subprocess.run(
        [MAKE, "--makefile", str(BUILD_MAKEFILE), target, f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return Build(artifacts, seconds, result.stdout + result.stderr)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@pytest.fixture(scope="session")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Build:
    build = make("build-CommonLayer", LAYER_SOURCE, tmp_path_factory.mktemp("build") / "CommonLayer")
    archive = build.folder.parent / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(build.folder.rglob("*")):
            zipped.write(path, path.relative_to(build.folder))
    print(
        f"\nCommonLayer: {folder_bytes(build.folder) / 2**20:.1f} MiB unzipped, "
        f"{archive.stat().st_size / 2**20:.1f} MiB zipped, built in {build.seconds:.1f} s"
    )
    return build


def wheel_tags(layer_dir: Path) -> dict[str, list[str]]:
    """Distribution -> the `Tag:` lines of its WHEEL file."""
    tags = {}
    for wheel in sorted((layer_dir / "python").glob("*.dist-info/WHEEL")):
        lines = wheel.read_text().splitlines()
        tags[wheel.parent.name] = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
    return tags


def loads_on_lambda_python313_arm64(tag: str) -> bool:
    interpreter, abi, platform = tag.split("-")
    if platform == "any":
        return abi == "none" and interpreter in ("py3", "py2", "py313", "cp313")
    if not re.fullmatch(r"manylinux(2014|_2_(1[7-9]|2[0-9]|3[0-4]))_aarch64", platform):
        return False  # Lambda's Amazon Linux 2023 has glibc 2.34
    if abi == "abi3":  # the stable ABI: built for any CPython 3.x up to 3.13
        return re.fullmatch(r"cp3\d+", interpreter) is not None and int(interpreter[3:]) <= 13
    return (interpreter, abi) == ("cp313", "cp313")


def test_every_wheel_is_built_for_lambda_python313_arm64(layer: Build) -> None:
    tags = wheel_tags(layer.folder)
    assert len(tags) >= 10  # powertools, clickhouse-connect, pg8000, PyJWT and what they need
    assert {name.split("-")[0].lower() for name in tags} >= {
        "aws_lambda_powertools",
        "clickhouse_connect",
        "pg8000",
        "pyjwt",
        "cryptography",
    }
    wrong = {
        name: lines for name, lines in tags.items() if not lines or not all(map(loads_on_lambda_python313_arm64, lines))
    }
    assert not wrong, wrong
    binaries = [path.name for path in (layer.folder / "python").rglob("*.so")]
    assert binaries and all("x86_64" not in name for name in binaries)


def test_the_tag_check_can_tell_a_wrong_wheel() -> None:
    for good in ("cp313-cp313-manylinux_2_17_aarch64", "cp39-abi3-manylinux2014_aarch64", "py3-none-any"):
        assert loads_on_lambda_python313_arm64(good), good
    for bad in (
        "cp313-cp313-manylinux_2_17_x86_64",
        "cp312-cp312-manylinux_2_17_aarch64",
        "cp313-cp313-manylinux_2_39_aarch64",
        "cp313-cp313-macosx_11_0_arm64",
    ):
        assert not loads_on_lambda_python313_arm64(bad), bad


def test_the_layer_leaves_out_boto3_and_the_test_engines(layer: Build) -> None:
    site = layer.folder / "python"
    shipped = {path.name.split("-")[0].lower() for path in site.iterdir()}
    assert not shipped & set(FORBIDDEN), shipped & set(FORBIDDEN)
    assert folder_bytes(layer.folder) < LAMBDA_UNZIPPED_LIMIT_BYTES / 4  # room for the functions, and lean


def test_the_layer_ships_analytics_common_as_written(layer: Build) -> None:
    sources = sorted(path.relative_to(LAYER_SOURCE) for path in (LAYER_SOURCE / "analytics_common").glob("*.py"))
    assert sources
    for relative in sources:
        assert (layer.folder / "python" / relative).read_bytes() == (LAYER_SOURCE / relative).read_bytes()


def check_precompiled(folder: Path) -> None:
    """Every module has a cpython-313 .pyc next to it that Python 3.13 uses without looking at the source."""
    modules = [path for path in folder.rglob("*.py") if "__pycache__" not in path.parts]
    assert modules
    missing = []
    for module in modules:
        pyc = module.parent / "__pycache__" / f"{module.stem}.cpython-313.pyc"
        if not pyc.is_file():
            missing.append(str(module.relative_to(folder)))
            continue
        header = pyc.read_bytes()[:8]
        assert header[:4] == PYC_313_MAGIC, pyc
        assert int.from_bytes(header[4:8], "little") == PYC_UNCHECKED_HASH, pyc
    assert not missing, missing[:20]
    stale = [str(p.relative_to(folder)) for p in folder.rglob("*.pyc") if ".cpython-313." not in p.name]
    assert not stale, stale[:20]


def test_every_module_of_the_layer_is_precompiled_for_python313(layer: Build) -> None:
    if not layer.precompiled:
        pytest.skip("no CPython 3.13 on this machine: the layer ships sources only (see layers/common/Makefile)")
    check_precompiled(layer.folder / "python")


def test_a_function_builds_from_its_folder_alone(tmp_path: Path) -> None:
    source = tmp_path / "overview-source"
    shutil.copytree(ROOT / "functions" / "overview", source)
    stale = source / "__pycache__" / "app.cpython-311.pyc"  # what a local test run leaves behind
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(importlib.util.MAGIC_NUMBER)
    build = make("build-OverviewFunction", source, tmp_path / "OverviewFunction")
    shipped = {path.name for path in build.folder.iterdir() if path.is_file()}
    assert shipped == {path.name for path in (ROOT / "functions" / "overview").glob("*.py")}
    assert "app.py" in shipped
    if build.precompiled:
        check_precompiled(build.folder)
    else:
        assert not list(build.folder.rglob("*.pyc"))


def test_a_folder_without_app_py_is_not_a_function(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(AssertionError, match=r"no app\.py"):
        make("build-EmptyFunction", tmp_path / "empty", tmp_path / "EmptyFunction")
