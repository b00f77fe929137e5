"""Issue 9: decoders, independent synthetic programs, the unit table and its labels in plots."""

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

import scsaliency as ss
from scsaliency import _init
from scsaliency._data import CellMatrix
from scsaliency._init import program_profiles, varimax
from scsaliency._units import diagonal_order, unit_table
from scsaliency.module import AdditiveDecoder


def _independent(**kw):
    args = dict(
        n_cells=800,
        n_genes=300,
        n_programs=4,
        n_decoys=4,
        fold_change=4.0,
        activity="independent",
        random_state=3,
    )
    return ss.datasets.synthetic(**{**args, **kw})


def test_independent_programs_are_independent_of_groups_and_each_other():
    a = _independent(n_cells=4000, active_fraction=0.3)
    acts = a.obs[[f"program{p}_activity" for p in range(4)]].to_numpy()
    active = acts > 0
    # each program active in about 30% of the cells, with continuous activity in [0.5, 1]
    assert np.allclose(active.mean(0), 0.3, atol=0.03)
    assert acts[active].min() >= 0.5 and acts[active].max() <= 1.0
    assert len(np.unique(np.round(acts[active], 6))) > 100
    # programs overlap in cells as independent draws would, and ignore the groups
    both = (active[:, 0] & active[:, 1]).mean()
    assert abs(both - active[:, 0].mean() * active[:, 1].mean()) < 0.02
    by_group = pd.Series(active[:, 0]).groupby(a.obs["group"].to_numpy()).mean()
    assert by_group.max() - by_group.min() < 0.1
    progs = a.uns["synthetic"]["programs"]
    assert list(progs["group"]) == ["none"] * 4
    sets = a.uns["synthetic"]["gene_sets"]
    assert set(sets["source"]) == {f"program{p}" for p in range(4)} | {
        f"decoy{d}" for d in range(4)
    }


def test_independent_program_genes_follow_activity():
    a = _independent(n_cells=3000)
    sets = a.uns["synthetic"]["gene_sets"]
    genes = sets.loc[sets["source"] == "program0", "target"]
    x = np.asarray(a[:, genes].X.sum(1)).ravel() / np.asarray(a.X.sum(1)).ravel()
    on = a.obs["program0_activity"].to_numpy() > 0
    assert x[on].mean() > 2 * x[~on].mean()


def test_synthetic_rejects_bad_mode():
    with pytest.raises(ValueError, match="activity"):
        ss.datasets.synthetic(activity="random")
    with pytest.raises(ValueError, match="active_fraction"):
        ss.datasets.synthetic(activity="independent", active_fraction=0)


@pytest.mark.parametrize("decoder", ["additive", "mlp"])
def test_each_decoder_trains_round_trips_and_rebuilds(decoder, tmp_path):
    a = _independent(n_cells=300, n_genes=120, n_decoys=1)
    ss.tl.ortho_ae(a, decoder=decoder, n_latent=6, n_hidden=16, max_epochs=5, progress=False)
    params = a.uns["ortho_ae"]["params"]
    assert params["decoder"] == decoder
    path = tmp_path / "a.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    module = ss.get.model(b)
    assert module.decoder_kind == decoder
    genes = b.uns["ortho_ae"]["var_names"]
    x = torch.as_tensor(b[:, genes].X.toarray(), dtype=torch.float32)
    with torch.no_grad():
        z, rate = module(x)
    np.testing.assert_allclose(z.numpy(), b.obsm["X_ortho_ae"], rtol=1e-5, atol=1e-6)
    assert torch.isfinite(rate).all() and (rate > 0).all()


def test_additive_decoder_is_one_nonnegative_program_per_unit():
    a = _independent(n_cells=300, n_genes=120, n_decoys=1)
    ss.tl.ortho_ae(a, n_latent=6, n_hidden=16, max_epochs=5, progress=False)
    m = ss.get.model(a)
    programs = m.decoder.gene_programs()
    assert programs.shape == (6, 120) and (programs >= 0).all()
    z = torch.zeros(1, 6)
    z1 = z.clone()
    z1[0, 2] = 1.0
    with torch.no_grad():
        added = m.decoder(z1) - m.decoder(z)
    torch.testing.assert_close(added[0], programs[2])


@pytest.mark.parametrize("decoder", ["additive", "mlp"])
def test_training_loss_equals_the_dense_poisson_nll(decoder):
    # The additive decoder's loss skips the dense rate; value and gradients must not change.
    from scsaliency.module import OrthoAE, poisson_nll

    gen = torch.Generator().manual_seed(0)
    m = OrthoAE(200, 16, 6, decoder=decoder, generator=gen)
    if decoder == "additive":
        with torch.no_grad():  # programs of different weights, so each unit matters
            m.decoder.P.mul_(torch.rand(m.decoder.P.shape, generator=gen) * 5)
    m.median_total.fill_(20.0)
    x = torch.poisson(torch.rand(40, 200, generator=gen) * 0.4, generator=gen)
    x[5] = 0  # a cell without counts
    assert 0.1 < float((x > 0).float().mean()) < 0.5
    z, rate = m(x)
    dense = poisson_nll(rate, x)
    z_nll, nll = m(x, nll=True)
    torch.testing.assert_close(z_nll, z)
    torch.testing.assert_close(nll, dense, rtol=1e-5, atol=1e-6)
    params = list(m.parameters())
    for a, b in zip(
        torch.autograd.grad(dense, params), torch.autograd.grad(nll, params), strict=True
    ):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-7)


def test_models_stored_before_the_decoder_choice_rebuild_as_mlp():
    a = _independent(n_cells=300, n_genes=120, n_decoys=1)
    ss.tl.ortho_ae(a, decoder="mlp", n_latent=6, n_hidden=16, max_epochs=3, progress=False)
    del a.uns["ortho_ae"]["params"]["decoder"]  # as written by version 0.1.0
    module = ss.get.model(a)
    assert module.decoder_kind == "mlp"
    genes = a.uns["ortho_ae"]["var_names"]
    with torch.no_grad():
        z = module.encode(torch.as_tensor(a[:, genes].X.toarray(), dtype=torch.float32))
    np.testing.assert_allclose(z.numpy(), a.obsm["X_ortho_ae"], rtol=1e-5, atol=1e-6)


def _scaled_pair():
    """An additive network with programs of different lengths, and a copy with scaled units."""
    import copy

    from scsaliency.module import OrthoAE

    gen = torch.Generator().manual_seed(1)
    m = OrthoAE(30, 8, 5, decoder="additive", generator=gen)
    with torch.no_grad():
        m.decoder.P.mul_(torch.rand(m.decoder.P.shape, generator=gen) * 10)
        m.decoder.P.mul_(torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0]).unsqueeze(1))
    m.median_total.fill_(10.0)
    scaled = copy.deepcopy(m)
    scaled.scale_units()
    x = torch.poisson(torch.rand(12, 30, generator=gen) * 2, generator=gen)
    return m, scaled, x


def test_scale_units_moves_program_length_into_the_unit():
    m, scaled, x = _scaled_pair()
    length = m.decoder.P.abs().norm(dim=1).detach()
    assert length.std() > 0.1 * length.mean()  # the programs' lengths differ
    torch.testing.assert_close(scaled.unit_scale, length)
    torch.testing.assert_close(scaled.decoder.P.abs().norm(dim=1), torch.ones(5))
    with torch.no_grad():
        z, rate = m(x)
        z_s, rate_s = scaled(x)
    torch.testing.assert_close(z_s, z * length)
    torch.testing.assert_close(rate_s, rate)  # the same model
    torch.testing.assert_close(scaled.encode(x), z_s)


@pytest.mark.parametrize("method", ["guided", "gradient", "guided_x_input", "gradient_x_centered"])
def test_scaled_units_scale_their_saliency(method):
    from scsaliency._saliency import cell_saliency, reference_saliency, saliency_pass

    m, scaled, x = _scaled_pair()
    length = scaled.unit_scale.view(1, -1, 1)
    got = cell_saliency(scaled, x, method)
    torch.testing.assert_close(got, cell_saliency(m, x, method) * length)
    torch.testing.assert_close(got, reference_saliency(scaled, x, method))
    data = CellMatrix(x.numpy(), np.arange(30))
    # guided_x_input goes through the expressed-pairs path in the streaming pass
    s = saliency_pass(scaled, data, method, progress=False).group_sums
    u = saliency_pass(m, data, method, progress=False).group_sums
    np.testing.assert_allclose(s, u * scaled.unit_scale.numpy(), rtol=1e-4, atol=1e-6)


def test_scale_units_is_stored_and_can_be_switched_off(counts, tmp_path):
    a = _independent(n_cells=300, n_genes=120, n_decoys=1)
    b = a.copy()
    kw = dict(n_latent=6, n_hidden=16, max_epochs=3, progress=False)
    ss.tl.ortho_ae(a, **kw)
    ss.tl.ortho_ae(b, scale_units=False, **kw)
    assert a.uns["ortho_ae"]["params"]["scale_units"]
    assert not b.uns["ortho_ae"]["params"]["scale_units"]
    scale = a.uns["ortho_ae"]["weights"]["unit_scale"]
    np.testing.assert_array_equal(b.uns["ortho_ae"]["weights"]["unit_scale"], np.ones(6))
    assert not np.allclose(scale, 1)
    np.testing.assert_allclose(a.obsm["X_ortho_ae"], b.obsm["X_ortho_ae"] * scale, rtol=1e-5)
    # a model stored before units were scaled has no unit_scale: it rebuilds with factors 1
    del b.uns["ortho_ae"]["weights"]["unit_scale"]
    genes = b.uns["ortho_ae"]["var_names"]
    with torch.no_grad():
        z = ss.get.model(b).encode(torch.as_tensor(b[:, genes].X.toarray(), dtype=torch.float32))
    np.testing.assert_allclose(z.numpy(), b.obsm["X_ortho_ae"], rtol=1e-5, atol=1e-6)
    c = ss.tl.ortho_ae(a, decoder="mlp", copy=True, **kw)
    assert not c.uns["ortho_ae"]["params"]["scale_units"]  # no programs to scale


def test_unknown_decoder_is_a_clear_error(counts):
    with pytest.raises(ValueError, match="decoder must be one of"):
        ss.tl.ortho_ae(counts, decoder="linear", progress=False)


def test_varimax_recovers_sparse_loadings_from_a_rotation():
    rng = np.random.default_rng(0)
    blocks = np.kron(np.eye(4), np.ones((10, 1)))  # 40 genes, 4 axes, 10 genes each
    rot = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    back = varimax(blocks @ rot)
    # each rotated axis loads on exactly one block (up to sign and order)
    match = np.abs(back.T @ blocks) / 10
    np.testing.assert_allclose(np.sort(match.max(1)), 1.0, atol=1e-4)
    assert sorted(match.argmax(1)) == [0, 1, 2, 3]


def test_program_profiles_start_near_planted_programs():
    a = _independent(n_cells=1500)
    data = CellMatrix(a.X, np.arange(a.n_vars))
    totals = np.asarray(a.X.sum(1)).ravel()
    rng = np.random.default_rng(0)
    prof = program_profiles(
        data, np.arange(a.n_obs), 8, median_total=float(np.median(totals)), rng=rng
    )
    assert prof.shape[1] == a.n_vars and 1 <= len(prof) <= 8 and (prof >= 0).all()
    sets = a.uns["synthetic"]["gene_sets"]
    for p in range(4):
        genes = a.var_names.get_indexer(sets.loc[sets["source"] == f"program{p}", "target"])
        top = np.argsort(-prof, axis=1)[:, : len(genes)]
        # some profile has most of the program's genes as its top genes
        assert max(len(set(t) & set(genes)) for t in top) >= 0.7 * len(genes)


def test_program_profiles_sample_backed_data_in_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(_init, "N_CELLS", 40)
    a = _independent(n_cells=400)
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    data = CellMatrix(b.X, np.arange(a.n_vars))
    x1 = _init.sample_counts(data, np.arange(400), np.random.default_rng(1))
    x2 = _init.sample_counts(data, np.arange(400), np.random.default_rng(1))
    assert x1.shape == (40, a.n_vars)
    np.testing.assert_array_equal(x1, x2)


@pytest.mark.parametrize("program_init", ["varimax", "flat"])
def test_program_init_is_used_and_stored(program_init, monkeypatch):
    a = _independent()
    starts = []
    real = AdditiveDecoder.init_programs
    monkeypatch.setattr(
        AdditiveDecoder, "init_programs", lambda self, p: starts.append(p) or real(self, p)
    )
    ss.tl.ortho_ae(
        a, n_latent=8, n_hidden=16, max_epochs=2, program_init=program_init, progress=False
    )
    assert a.uns["ortho_ae"]["params"]["program_init"] == program_init
    assert len(starts) == (program_init == "varimax")
    if starts:
        assert 1 <= len(starts[0]) <= 4  # half of the units start from profiles
    ss.tl.ortho_ae(a, decoder="mlp", n_latent=8, n_hidden=16, max_epochs=2, progress=False)
    assert a.uns["ortho_ae"]["params"]["program_init"] == "none"


def test_program_lr_scales_only_the_additive_decoder(counts):
    from scsaliency._train import TrainConfig, _make_optimizer
    from scsaliency.module import OrthoAE

    module = OrthoAE(50, 16, 4, decoder="additive")
    opt = _make_optimizer(module, TrainConfig(lr=2e-3, decoder_lr_scale=0.25))
    enc, dec = opt.param_groups
    assert enc["lr"] == 2e-3 and dec["lr"] == 5e-4
    assert {id(p) for p in dec["params"]} == {id(p) for p in module.decoder.parameters()}
    kw = dict(n_latent=4, n_hidden=8, max_epochs=3, progress=False)
    ss.tl.ortho_ae(counts, program_lr=1.0, key_added="one", **kw)
    ss.tl.ortho_ae(counts, program_lr=0.25, key_added="quarter", **kw)
    assert counts.uns["quarter"]["params"]["program_lr"] == 0.25
    assert not np.allclose(counts.obsm["X_one"], counts.obsm["X_quarter"])
    ss.tl.ortho_ae(counts, decoder="mlp", program_lr=0.25, key_added="mlp", **kw)
    assert counts.uns["mlp"]["params"]["program_lr"] == 1.0
    with pytest.raises(ValueError, match="program_lr must be"):
        ss.tl.ortho_ae(counts, program_lr=0.0, **kw)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [({}, 2e-3), ({"decoder": "mlp"}, 1e-3), ({"optimizer": "sgd"}, 1e-2)],
)
def test_default_learning_rate_per_decoder(counts, kw, expected):
    base = dict(n_latent=4, n_hidden=8, max_epochs=2, progress=False, **kw)
    ss.tl.ortho_ae(counts, key_added="default", **base)
    ss.tl.ortho_ae(counts, lr=expected, key_added="explicit", **base)
    ss.tl.ortho_ae(counts, lr=expected * 2, key_added="other", **base)
    assert counts.uns["default"]["params"]["lr"] == expected
    np.testing.assert_array_equal(counts.obsm["X_default"], counts.obsm["X_explicit"])
    assert not np.allclose(counts.obsm["X_default"], counts.obsm["X_other"])


def test_unknown_program_init_is_a_clear_error(counts):
    with pytest.raises(ValueError, match="program_init must be"):
        ss.tl.ortho_ae(counts, program_init="nndsvd", progress=False)


def test_unit_table_columns_labels_and_status():
    idx = ["A", "B", "C"]
    cols = ["0", "1", "2", "3"]
    z = pd.DataFrame(
        [[9.0, 0.5, 0.1, np.nan], [0.2, 1.0, 6.0, np.nan], [0.1, 0.3, 0.2, np.nan]],
        index=idx,
        columns=cols,
    )
    padj = pd.DataFrame(
        [[1e-9, 0.5, 0.9, np.nan], [0.9, 0.3, 1e-5, np.nan], [0.9, 0.9, 0.9, np.nan]],
        index=idx,
        columns=cols,
    )
    impact = pd.DataFrame(np.ones((3, 4)), index=idx, columns=cols)
    t = unit_table(impact, zscore=z, padj=padj, inactive=["3"])
    assert list(t.index) == cols
    assert list(t["gene_set"]) == ["A", "B", "B", ""]
    assert list(t["status"]) == [
        "carries a set",
        "no significant set",
        "carries a set",
        "inactive",
    ]
    assert list(t["label"]) == ["0: A", "1: no significant set", "2: B", "3: inactive"]
    assert t.loc["0", "margin"] == pytest.approx(9.0 - 0.2)
    assert t.loc["0", "share"] == pytest.approx(9.0 / (9.0 + 0.5 + 0.1))
    assert t.loc["2", "owner"] and not t.loc["1", "owner"]


def test_unit_table_needs_the_set_without_its_strongest_gene_too():
    idx, cols = ["A", "B"], ["0", "1"]
    z = pd.DataFrame([[9.0, 8.0], [0.1, 0.2]], index=idx, columns=cols)
    padj = pd.DataFrame([[1e-9, 1e-8], [0.9, 0.9]], index=idx, columns=cols)
    # unit 1's A is carried by one gene: without it, A is not significant there
    trimmed = pd.DataFrame([[1e-6, 0.4], [0.9, 0.9]], index=idx, columns=cols)
    impact = pd.DataFrame(np.ones((2, 2)), index=idx, columns=cols)
    t = unit_table(impact, zscore=z, padj=padj, padj_trimmed=trimmed, inactive=[])
    assert list(t["status"]) == ["carries a set", "no significant set"]
    assert list(t["label"]) == ["0: A", "1: no significant set"]
    assert t.loc["1", "gene_set"] == "A" and t.loc["1", "padj_trimmed"] == pytest.approx(0.4)
    # without the trimmed test both units carry A, as before
    t = unit_table(impact, zscore=z, padj=padj, inactive=[])
    assert (t["status"] == "carries a set").all() and t["padj_trimmed"].isna().all()


def test_unit_table_without_null_ranks_by_standardised_impact():
    impact = pd.DataFrame(
        [[1.0, 1.0, 3.0], [5.0, 2.0, 5.0]], index=["A", "B"], columns=["0", "1", "2"]
    )
    t = unit_table(impact, zscore=None, padj=None, inactive=[])
    # set B has the higher raw impact everywhere, but unit 2 stands out on A
    assert t.loc["2", "gene_set"] == "A"
    assert (t["status"] == "carries a set").all()


def test_diagonal_order_puts_each_units_best_set_beside_it():
    z = pd.DataFrame(
        [[0, 0, 5], [4, 0, 0], [0, 3, 0]],
        index=["S1", "S2", "S3"],
        columns=["a", "b", "c"],
        dtype=float,
    )
    rows, cols = diagonal_order(z, list(z.columns))
    assert cols == ["c", "a", "b"] and rows == ["S1", "S2", "S3"]


@pytest.fixture(scope="module")
def planted():
    """Additive default model on data with 4 independent planted programs."""
    a = _independent(n_cells=1500, n_genes=300, fold_change=5.0)
    ss.tl.ortho_ae(a, n_latent=8, n_hidden=32, progress=False)
    ss.tl.saliency(a, progress=False)
    ss.tl.geneset_impact(a, a.uns["synthetic"]["gene_sets"], n_null=200, progress=False)
    return a


def test_strong_planted_program_is_the_top_set_of_exactly_one_unit(planted):
    t = ss.get.units(planted)
    carried = t.loc[t["status"] == "carries a set", "gene_set"]
    # every planted program is carried, no decoy is, and the units that follow a program are
    # named by programs
    assert {f"program{p}" for p in range(4)} <= set(carried)
    assert not any(s.startswith("decoy") for s in carried)
    act = planted.obs[[f"program{p}_activity" for p in range(4)]].to_numpy()
    z = planted.obsm["X_ortho_ae"]
    r = np.abs(np.corrcoef(z.T, act.T)[: z.shape[1], z.shape[1] :]).max(1)
    named = np.where(t["status"] == "carries a set", t["gene_set"], "")[r > 0.5]
    assert len(named) >= 4 and not any(s.startswith("decoy") for s in named)
    owners = t[t["owner"]]
    for p in range(4):
        assert (owners["gene_set"] == f"program{p}").sum() == 1


def test_units_table_round_trips(planted, tmp_path):
    path = tmp_path / "p.h5ad"
    planted.write_h5ad(path)
    pd.testing.assert_frame_equal(ss.get.units(ad.read_h5ad(path)), ss.get.units(planted))


def test_plots_use_unit_labels(planted):
    ax = ss.pl.impact_heatmap(planted, show=False)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any(lab.endswith(": program0") for lab in labels)
    plt.close("all")
    ax = ss.pl.impact_heatmap(planted, values="scaled", order="cluster", show=False)
    assert ax.images[0].get_clim() == (0, 1)
    plt.close("all")
    planted.obs["prog0"] = pd.Categorical(
        np.where(planted.obs["program0_activity"] > 0, "on", "off")
    )
    b = planted.copy()
    ss.tl.geneset_impact(
        b, b.uns["synthetic"]["gene_sets"], n_null=50, groupby="prog0", progress=False
    )
    ax = ss.pl.impact_diff(b, "prog0", "on", show=False)
    assert any(": program0" in t.get_text() for t in ax.get_xticklabels())
    plt.close("all")
    b.obsm["X_umap"] = np.asarray(b.obsm["X_ortho_ae"][:, :2])
    axes = ss.pl.unit_activity(b, gene_set="program0", n_units=1, show=False)
    axes = axes if isinstance(axes, list) else [axes]
    assert axes[0].get_title().endswith(": program0")
    plt.close("all")


def test_heatmap_rejects_unknown_order(planted):
    with pytest.raises(ValueError, match="order must be"):
        ss.pl.impact_heatmap(planted, order="random", show=False)
