"""Issue 12: the documentation site builds without warnings, executing the tutorials once.

The build (``python -m sphinx -W``) is the tutorials' execution: myst-nb runs each notebook
written from ``tutorials/*.py`` and stops at the first error, so a broken tutorial or a broken
docstring fails this test. The built site stays in ``docs/_build/html`` to look at.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import scsaliency as ss

from .conftest import _have

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
PUBLIC = {
    "tl": ss.tl.__all__,
    "pl": ss.pl.__all__,
    "get": ss.get.__all__,
    "datasets": [n for n in ss.datasets.__all__ if callable(getattr(ss.datasets, n))],
}


def _readme_docs_command() -> str:
    """The README's documentation command without its installation steps, as typed there."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)
    return blocks[2].strip().split(" && ")[-1]


@pytest.fixture(scope="module")
def site():
    for data in ("pbmc3k", "paul15", "kang18", "hallmark_human", "hallmark_mouse", "dmap"):
        if not _have(data):
            pytest.fail(f"{data} is not in the data directory; the tutorials need it")
    command = _readme_docs_command()
    assert command.startswith("SCSALIENCY_DATA_DIR=") and "sphinx" in command, command
    # Run as the README has it, from the repository root: the data directory is relative there.
    # Kernels plot inline; python3 is this interpreter.
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", ss.datasets.DATA_DIR_VAR)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PWD"] = str(ROOT)
    run = subprocess.run(
        ["bash", "-c", command.replace("python3 -m sphinx", "python3 -m sphinx -E -q")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-6000:]
    return SITE


def test_every_public_function_has_a_page(site):
    api = (site / "api.html").read_text()
    for sub, names in PUBLIC.items():
        for name in names:
            page = site / "generated" / f"scsaliency.{sub}.{name}.html"
            assert page.is_file(), f"no page for {sub}.{name}"
            assert f'href="generated/scsaliency.{sub}.{name}.html"' in api, f"{sub}.{name}"
            text = page.read_text()
            assert f'id="scsaliency.{sub}.{name}"' in text  # the rendered signature
            summary = getattr(getattr(ss, sub), name).__doc__.strip().split()[:3]
            assert " ".join(summary).replace("``", "") in re.sub(r"<[^>]+>", "", text), name


def test_tool_pages_spell_out_stored_keys(site):
    expect = {
        "tl.ortho_ae": ["obsm", "X_", "uns"],
        "tl.transfer": ["transfer", "n_missing"],
        "tl.align": ["X_", "objective", "n_clusters"],
        "tl.saliency": ["varm", "group_maps"],
        "tl.geneset_impact": ["zscore", "units", "sample_mean"],
    }
    for name, keys in expect.items():
        text = (site / "generated" / f"scsaliency.{name}.html").read_text()
        for key in keys:
            assert key in text, (name, key)


def test_cli_is_documented(site):
    api = (site / "api.html").read_text()
    for option in ("--gene-sets", "--groupby", "--sample-key", "--reference", "--out"):
        assert option in api


@pytest.mark.parametrize(
    ("page", "min_figures"),
    [("pbmc3k", 6), ("hematopoiesis", 3), ("stimulation", 2), ("transfer", 2)],
)
def test_tutorials_render_with_figures(site, page, min_figures):
    html = (site / "tutorials" / f"{page}.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= min_figures, images
    for src in images:
        assert (site / "tutorials" / src).resolve().stat().st_size > 5_000, src
    assert "Traceback" not in html


def test_pages_and_links_resolve(site):
    for page in ("index", "usage", "method", "paper", "benchmarks", "changelog"):
        html = (site / f"{page}.html").read_text()
        for href in re.findall(r'href="([^"#:]+\.html)', html):
            assert (site / page).parent.joinpath(href).resolve().is_file(), (page, href)
    assert re.search(r"<img[^>]+pbmc3k_impact_heatmap", (site / "index.html").read_text())
