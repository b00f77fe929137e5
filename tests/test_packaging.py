"""The package builds as a wheel that works without the source tree: manifest, template, types."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("scsaliency-*.whl")
    return path


def test_wheel_ships_the_manifest_the_report_template_and_types(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "scsaliency/datasets/data_manifest.yaml",
        "scsaliency/cli/report.html",
        "scsaliency/py.typed",
        "scsaliency/nn/network.py",
    ):
        assert name in names
    assert not any(n.startswith(("tests/", "benchmarks/", "src/")) for n in names)


def test_installed_wheel_reads_its_manifest(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
        + [str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import scsaliency, scsaliency.datasets as d; "
        "print(scsaliency.__file__); print(sorted(d.manifest()['datasets']))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    where, datasets = out.stdout.splitlines()
    assert where.startswith(str(target))
    assert "pbmc3k" in datasets
