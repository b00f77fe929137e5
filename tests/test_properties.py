"""Property-based tests of the public API (issue 27), with hypothesis.

Generated inputs go to every ``tl``, ``get``, ``pl`` and ``datasets`` function and to the
command line. Each call must either succeed with the invariants (the input's counts untouched,
finite outputs, an exact ``.h5ad`` round trip) or fail with an error of ours: raised from
scsaliency's own code (not from numpy, torch, pandas or anndata underneath), of a type a caller
can catch (``ValueError``, ``TypeError``, ``KeyError``, ``FileNotFoundError``), and naming
something the caller passed. The examples are derandomised (the same every run) and bounded,
so that the battery takes well under a minute.
"""

from __future__ import annotations

import traceback
import warnings
from pathlib import Path

import anndata as ad
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import scsaliency as ss

matplotlib.use("Agg")
PACKAGE = str(Path(ss.__file__).parent)
OURS = (ValueError, TypeError, KeyError, FileNotFoundError)
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST = dict(n_hidden=4, max_epochs=2, progress=False)


def assert_ours(err: BaseException, *names: str) -> None:
    """The error was raised by scsaliency's code and its message names one of ``names``."""
    assert isinstance(err, OURS), f"{type(err).__name__}: {err}"
    frames = traceback.extract_tb(err.__traceback__)
    assert frames and frames[-1].filename.startswith(PACKAGE), (
        f"{type(err).__name__} from {frames[-1].filename}: {err}"
    )
    if names:
        text = str(err)
        assert any(n in text for n in names), f"{text!r} names none of {names}"


def call(f, *args, **kwargs):
    """Run ``f``; return ``(result, None)`` or ``(None, error)`` for an error of any type.

    The outcome is a hypothesis event, so ``--hypothesis-show-statistics`` shows how many
    examples reached the success path.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = f(*args, **kwargs)
        except Exception as err:  # the property decides which errors are allowed
            event(f"{f.__name__}: {type(err).__name__}")
            return None, err
    event(f"{f.__name__}: ok")
    return result, None


# --- generated AnnData -------------------------------------------------------------------------

# Odd names, but ones an .h5ad file can hold (HDF5 strings cannot hold NUL): keys of ours must
# refuse NUL themselves (key_added below draws it).
names_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=8,
)


@st.composite
def counts_adata(draw) -> tuple[ad.AnnData, str | None]:
    """Small AnnData: dense/CSR/CSC, integer or float, maybe empty rows/columns, maybe bad values.

    Returns the AnnData and what is wrong with its counts (``None`` when they are valid).
    """
    n_cells = draw(st.integers(12, 40))
    n_genes = draw(st.integers(6, 24))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.poisson(rng.gamma(0.6, 3.0, size=(1, n_genes)), size=(n_cells, n_genes)).astype(float)
    if draw(st.booleans()):
        x[draw(st.integers(0, n_cells - 1))] = 0  # an empty cell
    if draw(st.booleans()):
        x[:, draw(st.integers(0, n_genes - 1))] = 0  # an empty gene
    problem = draw(st.sampled_from([None, None, None, "NaN", "negative", "fractional"]))
    i, j = draw(st.integers(0, n_cells - 1)), draw(st.integers(0, n_genes - 1))
    if problem == "NaN":
        x[i, j] = np.nan
    elif problem == "negative":
        x[i, j] = -1
    elif problem == "fractional":
        x[i, j] = 0.5
    dtype = draw(st.sampled_from(["int32", "int64", "float32", "float64"]))
    if problem is not None and dtype.startswith("int"):
        dtype = "float64"
    x = x.astype(dtype)
    fmt = draw(st.sampled_from(["dense", "csr", "csc"]))
    matrix = {"dense": x, "csr": sp.csr_matrix(x), "csc": sp.csc_matrix(x)}[fmt]
    genes = draw(st.lists(names_text, min_size=n_genes, max_size=n_genes, unique=True))
    adata = ad.AnnData(matrix, var=pd.DataFrame(index=genes))
    adata.obs_names = [f"c{k}" for k in range(n_cells)]
    adata.obs["group"] = draw(group_column(n_cells))
    return adata, problem


def group_column(n_cells: int):
    """A group column of any dtype, with NaN and single-cell groups."""
    labels = st.lists(st.sampled_from(["a", "b", "c", "solo"]), min_size=n_cells, max_size=n_cells)

    def build(values, kind, n_nan):
        v = pd.Series(values, dtype=object)
        v.iloc[:n_nan] = np.nan
        if kind == "category":
            return pd.Categorical(v)
        if kind == "int":
            return v.map({"a": 0, "b": 1, "c": 2, "solo": 3}).astype(float).to_numpy()
        if kind == "bool":
            return (v == "a").to_numpy()
        return v.to_numpy()

    return st.builds(
        build,
        labels,
        st.sampled_from(["category", "str", "int", "bool"]),
        st.integers(0, 3),
    )


def snapshot(adata: ad.AnnData) -> np.ndarray:
    x = adata.X
    return (x.toarray() if sp.issparse(x) else np.asarray(x)).copy()


# --- tl.ortho_ae on generated data and arguments -------------------------------------------------


def with_one_bad(good: st.SearchStrategy, bad: dict) -> st.SearchStrategy:
    """``(kwargs, None)`` valid, or ``(kwargs, name)`` with argument ``name`` given a bad value."""

    def spoil(kwargs):
        return st.sampled_from(sorted(bad)).flatmap(
            lambda k: st.sampled_from(bad[k]).map(lambda v: ({**kwargs, k: v}, k))
        )

    return st.one_of(good.map(lambda kwargs: (kwargs, None)), good.flatmap(spoil))


ortho_kwargs = with_one_bad(
    st.fixed_dictionaries(
        {},
        optional={
            "n_latent": st.sampled_from([1, 2, 2.0, np.int64(3)]),
            "batch_size": st.sampled_from([None, 1, 7, 64]),
            "random_state": st.one_of(st.integers(0, 2**40), st.sampled_from([np.int64(1), None])),
            "validation_fraction": st.floats(0.05, 0.5),
            "key_added": names_text.filter(lambda k: "/" not in k),
            "device": st.sampled_from(["cpu", "auto"]),
            "mask_var": st.sampled_from([None, "highly_variable"]),
            "decoder": st.sampled_from(["additive", "mlp"]),
            "ortho_weight": st.floats(0, 2),
        },
    ),
    {
        "n_latent": [-1, 0, 2.5, "3", 10_000],
        "batch_size": [0, -1, 8.5],
        "random_state": [-2, 1.5, "0"],
        "validation_fraction": [float("nan"), 0.0, 1.0, 0.999],
        "key_added": ["a/b", "", 3, "a\x00b"],
        "device": ["cuda:3", "foo", 3],
        "mask_var": ["nope", "group"],
        "decoder": ["linear"],
        "ortho_weight": [-1.0, float("nan")],
        "layer": ["nope"],
    },
)


@SETTINGS
@given(data=counts_adata(), kwargs=ortho_kwargs)
def test_ortho_ae_generated(data, kwargs, tmp_path_factory):
    adata, problem = data
    kwargs, bad = kwargs
    adata.var["highly_variable"] = np.arange(adata.n_vars) % 3 != 0
    before = snapshot(adata)
    kwargs = {"n_latent": 2, **kwargs}
    result, err = call(ss.tl.ortho_ae, adata, **{**FAST, **kwargs})
    np.testing.assert_array_equal(snapshot(adata), before)  # never modified, even on error
    if err is not None:
        # a bad argument is named; otherwise the data's problem is, or a size it cannot meet
        assert_ours(err, *([bad] if bad else ["adata", "cells", "genes", "n_latent"]))
        return
    assert problem is None and bad is None, f"accepted: {problem} counts, bad {bad}"
    key = kwargs.get("key_added", "ortho_ae")
    rep = adata.obsm[f"X_{key}"]
    assert rep.shape[0] == adata.n_obs and np.isfinite(rep).all()
    path = tmp_path_factory.mktemp("h5ad") / "a.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.obsm[f"X_{key}"], rep)
    assert key in back.uns and list(back.uns[key]["var_names"]) == list(adata.uns[key]["var_names"])
    # the generated group column (any dtype, NaN, single-cell groups) through the group passes
    _, err = call(ss.tl.saliency, adata, model_key=key, groupby="group", progress=False)
    if err is not None:
        assert_ours(err, "group")
        return
    sets = {"s": list(adata.uns[key]["var_names"][:3])}
    _, err = call(ss.tl.geneset_impact, adata, sets, min_size=1, groupby="group", progress=False)
    if err is not None:
        assert_ours(err, "group", "inactive", "min_size")
        return
    np.testing.assert_array_equal(snapshot(adata), before)
    assert np.isfinite(adata.uns["geneset_impact"]["impact"].to_numpy()).all()


# --- saliency, impact, getters and plots on a trained model -----------------------------------


@pytest.fixture(scope="module")
def model():
    a = ss.datasets.synthetic(n_cells=200, n_genes=200, n_groups=3, random_state=0)
    a.obs["donor"] = np.where(np.arange(a.n_obs) % 2 == 0, "d1", "d2")
    ss.tl.ortho_ae(a, n_latent=4, n_hidden=16, max_epochs=5, progress=False)
    return a


GENES = [f"gene{i}" for i in range(200)]
good_sets = st.dictionaries(
    names_text, st.lists(st.sampled_from(GENES), min_size=5, max_size=15), min_size=1, max_size=4
)
bad_sets = st.one_of(
    st.dictionaries(
        names_text,
        st.one_of(
            st.lists(st.sampled_from([*GENES[:3], "NOPE", ""]), max_size=4),
            st.sampled_from(["gene1", None, 3]),
        ),
        max_size=3,
    ),
    st.sampled_from([None, ["gene1", "gene2"], "hallmark_nope", "program0", 3]),
)
gene_sets = st.one_of(good_sets.map(lambda g: (g, True)), bad_sets.map(lambda g: (g, False)))


impact_kwargs = with_one_bad(
    st.fixed_dictionaries(
        {},
        optional={
            "groupby": st.sampled_from([None, "group", "donor", "program0_activity"]),
            "sample_key": st.sampled_from([None, "donor"]),
            "n_null": st.sampled_from([0, 2, 20]),
            "min_size": st.integers(1, 6),
            "alpha": st.floats(0.001, 0.5),
            "n_bins": st.integers(1, 60),
            "random_state": st.sampled_from([0, np.int64(2), None]),
        },
    ),
    {
        "groupby": ["nope", 3],
        "sample_key": ["nope", "group"],
        "n_null": [-1, 1, 2.5],
        "min_size": [-1, 0, 1.5],
        "alpha": [float("nan"), 0.0, 1.0],
        "n_bins": [0, -3],
        "random_state": [-1, 1.5, "0"],
        "groupy": ["group"],
        "key_added": ["", "a/b"],
    },
)


@SETTINGS
@given(sets=gene_sets, kwargs=impact_kwargs)
def test_saliency_and_impact_generated(model, sets, kwargs, tmp_path_factory):
    (kwargs, bad), (sets, good) = kwargs, sets
    a = model.copy()
    ss.tl.saliency(a, groupby="group", progress=False)
    _, err = call(ss.tl.geneset_impact, a, sets, progress=False, **kwargs)
    if err is not None:
        about_sets = ["gene set", "gene_sets", "Gene set", "min_size", "resource"]
        combos = ["min_size", "sample_key", "groupby"]  # valid alone, not together
        assert_ours(err, *([bad] if bad else []), *([] if good else about_sets), *combos)
        return
    assert bad is None, f"accepted a bad {bad}: {kwargs[bad]!r}"
    e = a.uns["geneset_impact"]
    assert np.isfinite(e["impact"].to_numpy()).all()
    tables = [ss.get.impact(a), ss.get.units(a)]
    if "groups" in e:
        group = str(e["groups"][0])
        d, err = call(ss.get.impact_diff, a, group)
        if err is not None:
            assert_ours(err, group)
        else:
            tables.append(d)
    for t in tables:
        assert t["unit"].dtype == np.int64
    path = tmp_path_factory.mktemp("h5ad") / "i.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(ss.get.units(b), ss.get.units(a))
    pd.testing.assert_frame_equal(ss.get.impact(b), ss.get.impact(a))


plot_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "values": st.sampled_from([None, "zscore", "scaled", "centred", "nope"]),
        "top": st.one_of(st.integers(-1, 5), st.none()),
        "order": st.sampled_from(["diagonal", "cluster", "none", "nope"]),
        "min_impact": st.floats(0, 1.5),
    },
)


@pytest.fixture(scope="module")
def explained(model):
    a = model.copy()
    ss.tl.saliency(a, groupby="group", progress=False)
    ss.tl.geneset_impact(
        a, a.uns["synthetic"]["gene_sets"], groupby="group", n_null=20, progress=False
    )
    return a


@SETTINGS
@given(
    kwargs=plot_kwargs,
    group1=st.sampled_from(["g0", "g1", "nope", "rest"]),
    group2=st.sampled_from(["rest", "g2", "g0", "nope"]),
    groupby=st.sampled_from([None, "group", "donor"]),
)
def test_plots_and_getters_generated(explained, kwargs, group1, group2, groupby):
    a = explained
    for f, args, extra in (
        (ss.pl.impact_heatmap, (), {}),
        (ss.pl.impact_diff, (group1, group2), {"groupby": groupby}),
        (ss.get.impact_diff, (group1, group2), {"groupby": groupby}),
    ):
        extra = {**extra, **({} if f is ss.get.impact_diff else {**kwargs, "show": False})}
        _, err = call(f, a, *args, **extra)
        plt.close("all")
        if err is not None:
            assert_ours(err)


# --- data sets and the command line -------------------------------------------------------------

synthetic_kwargs = with_one_bad(
    st.fixed_dictionaries(
        {},
        optional={
            "n_cells": st.integers(1, 30),
            "n_groups": st.integers(1, 4),
            "program_size": st.integers(1, 10),
            "n_decoys": st.integers(0, 3),
            "fold_change": st.floats(1, 100),
            "dispersion": st.floats(0.01, 2),
            "active_fraction": st.floats(0.01, 1),
            "activity": st.sampled_from(["group", "independent"]),
            "n_samples": st.integers(1, 3),
            "sample_effect": st.floats(0, 1),
            "random_state": st.sampled_from([0, np.int64(3), None]),
        },
    ),
    {
        "n_cells": [-1, 0, 10.5],
        "n_genes": [0, 5],
        "n_groups": [-1, 0],
        "fold_change": [float("nan"), float("inf"), 0.5, 1e9],
        "dispersion": [-1.0, 0.0],
        "active_fraction": [-0.5, 1.5],
        "activity": ["nope"],
        "sample_effect": [-1.0],
        "random_state": [-1, 2.5],
    },
)


@SETTINGS
@given(kwargs=synthetic_kwargs)
def test_synthetic_generated(kwargs):
    kwargs, bad = kwargs
    adata, err = call(ss.datasets.synthetic, **{"n_cells": 20, "n_genes": 200, **kwargs})
    if err is not None:
        assert_ours(err, *([bad] if bad else ["n_genes"]))
        return
    assert bad is None, f"accepted a bad {bad}: {kwargs[bad]!r}"
    x = adata.X.toarray()
    assert np.isfinite(x).all() and (x >= 0).all() and np.array_equal(x, np.round(x))


@SETTINGS
@given(
    option=st.sampled_from(
        ["--n-latent", "--max-epochs", "--min-cells", "--min-size", "--seed", "--groupby"]
    ),
    value=st.sampled_from(["-3", "0", "2.5", "abc", "nope", "1"]),
)
def test_cli_generated_options(model, option, value, tmp_path_factory):
    import contextlib
    import io

    from scsaliency.cli import main

    folder = tmp_path_factory.mktemp("cli")
    path = folder / "in.h5ad"
    model.write_h5ad(path)
    gmt = folder / "s.gmt"
    gmt.write_text("S\tna\t" + "\t".join(f"gene{i}" for i in range(10)) + "\n")
    argv = ["run", str(path), "--gene-sets", str(gmt), "--genes", "all", "--quiet"]
    argv += ["--n-latent", "2", "--max-epochs", "2", "--out", str(folder / "out")]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            status = main([*argv, option, value])
        except SystemExit as exit_:  # argparse's own usage errors
            status = exit_.code
    assert status in (0, 2), err.getvalue()
    if status == 2:
        assert "error:" in err.getvalue()
    plt.close("all")
