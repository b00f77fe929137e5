"""The tutorials execute as notebooks (jupytext -> nbclient), so a broken tutorial fails CI."""

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

from .conftest import _have

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


@pytest.mark.parametrize(
    ("name", "data"),
    [("pbmc3k.py", "pbmc3k"), ("hematopoiesis.py", "paul15"), ("transfer.py", "pbmc3k")],
)
def test_tutorial_executes(name, data, tmp_path, monkeypatch):
    if not _have(data):
        pytest.skip(f"{data} not in the data directory")
    monkeypatch.setenv("SCSALIENCY_FIGDIR", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(TUTORIALS / name)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(TUTORIALS)}}
    ).execute()
    figures = list(tmp_path.glob("*.png"))
    assert figures and all(f.stat().st_size > 5_000 for f in figures)
