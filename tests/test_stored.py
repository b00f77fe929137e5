"""The stored model: its format version, and the package's layering."""

import ast
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import scsaliency as ss
from scsaliency._stored import FORMAT_VERSION

SRC = Path(ss.__file__).resolve().parent


def test_format_version_is_written_and_survives_h5ad(trained, tmp_path):
    assert trained.uns["ortho_ae"]["format_version"] == FORMAT_VERSION
    path = tmp_path / "m.h5ad"
    trained.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert int(back.uns["ortho_ae"]["format_version"]) == FORMAT_VERSION
    ss.tl.transfer(back, trained, key_added="moved")
    assert back.uns["moved"]["format_version"] == FORMAT_VERSION
    np.testing.assert_array_equal(back.obsm["X_moved"], trained.obsm["X_ortho_ae"])


def test_a_newer_format_is_refused_with_a_clear_error(trained):
    a = trained.copy()
    a.uns["ortho_ae"]["format_version"] = FORMAT_VERSION + 1
    for call in (
        lambda: ss.tl.saliency(a, progress=False),
        lambda: ss.get.model(a),
        lambda: ss.tl.transfer(a.copy(), a),
    ):
        with pytest.raises(ValueError, match="newer scsaliency"):
            call()


def test_a_model_of_the_first_format_gives_the_same_results(trained):
    old = trained.copy()
    del old.uns["ortho_ae"]["format_version"]
    ss.tl.saliency(old, progress=False)
    new = trained.copy()
    ss.tl.saliency(new, progress=False)
    np.testing.assert_array_equal(old.varm["saliency"], new.varm["saliency"])
    assert "format_version" not in old.uns["ortho_ae"]  # reading does not rewrite the input


def _private_imports(path: Path) -> list[str]:
    """Modules of ``path``'s relative imports that reach a private module of a sibling layer."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module:
            parts = node.module.split(".")
            if parts[0] in ("tl", "get", "pl") and any(p.startswith("_") for p in parts[1:]):
                out.append(node.module)
    return out


def test_no_tool_imports_another_tools_private_helpers():
    crossing = {
        str(p.relative_to(SRC)): _private_imports(p)
        for layer in ("tl", "get", "pl")
        for p in (SRC / layer).glob("*.py")
    }
    assert {k: v for k, v in crossing.items() if v} == {}


def test_the_torch_layer_does_not_know_anndata():
    for path in (SRC / "nn").glob("*.py"):
        assert "anndata" not in path.read_text(), path.name
