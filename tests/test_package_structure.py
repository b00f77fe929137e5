"""Conventions of the public API, as scanpy tests its own (tests/test_package_structure.py)."""

import inspect

import pytest

import scsaliency as ss

PUBLIC = [
    (f"{mod}.{name}", getattr(getattr(ss, mod), name))
    for mod in ("tl", "get", "pl")
    for name in getattr(ss, mod).__all__
]


@pytest.mark.parametrize(("name", "func"), PUBLIC, ids=[n for n, _ in PUBLIC])
def test_adata_first_few_positional_and_keyword_only_copy(name, func):
    """``adata`` first, at most 3 positional parameters, ``copy``/``key_added`` keyword-only."""
    params = inspect.signature(func).parameters.values()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert positional[0].name == "adata", name
    assert len(positional) <= 3, f"{name}: {[p.name for p in positional]}"
    for p in params:
        if p.name in ("copy", "key_added", "show", "save", "ax"):
            assert p.kind == p.KEYWORD_ONLY, f"{name}: {p.name}"


@pytest.mark.parametrize(("name", "func"), PUBLIC, ids=[n for n, _ in PUBLIC])
def test_every_public_function_has_a_numpy_docstring(name, func):
    doc = inspect.getdoc(func) or ""
    assert "Parameters\n----------" in doc, name
    for p in inspect.signature(func).parameters:
        assert f"\n{p}\n" in doc or doc.count(f"{p}\n") or f"{p}, " in doc, f"{name}: {p}"


@pytest.mark.parametrize("mod", ["get", "pl"])
def test_one_file_per_public_function(mod):
    """``get`` and ``pl`` hold each public function in a file named after it."""
    for name in getattr(ss, mod).__all__:
        assert getattr(ss, mod).__dict__[name].__module__ == f"scsaliency.{mod}._{name}", name
