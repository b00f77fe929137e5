"""Programs free of batch (issue 29): the model without and with batch_key, and peers.

Data (batch / biology):
- cell-line mixture (Tian et al. 2019): 450 cells of 3 lung cancer cell lines, CEL-seq2 and
  Drop-seq; batch = technology, biology = cell line; the 3,000 most variable genes (scanpy,
  flavor "seurat", batch-aware, on log-normalised counts);
- Kang 2018: 1,556 PBMC of 2 donors, control and IFN-beta stimulated; batch = donor, biology =
  cell type; all 1,267 genes; the stimulation must survive as a program;
- two PBMC studies: PBMC 3k (one donor, 10x v1) and Kang 2018's control cells (two other
  donors, other runs), their 1,166 shared genes and 5 shared cell types (CD4 T, CD8 T, B, CD14+
  and FCGR3A+ monocytes; PBMC 3k's naive and memory CD4 T as one); batch = study;
- synthetic: 3 batches with per-gene capture factors (log-normal, sd 0.3, 0.5 and 1) and depths
  (sd 0.5), 4 programs active independently in 30 % of the cells, shared by the batches, against
  the same data without batches; 10 seeds (--quick: 3), paired differences averaged. The
  learned factors' spread (see factor_spread) puts the real pairs here at sd 0.5 or below.
Our model also with tl.align after it (the square root of the units aligned across the batches
by Harmony, harmonypy; the units themselves do not change).
Columns, on a 15-nearest-neighbour graph of the representation (the square root of our units;
tl.align: the aligned units; Harmony: its corrected PCs): same batch (share of a cell's
neighbours from its own batch, mean over cells; a perfect mix gives the batch's share of the
data), same biology (share with its own cell line / type), batch ASW (1 - |silhouette| of the
batch labels, scib's definition: 1 = mixed), biology NMI (KMeans with k = number of labels, mean
of 5 seeds), iLISI and cLISI (scib-metrics, 90 neighbours, scaled to 1 = best; "-" without
scib-metrics); per unit, the batch share (eta squared of the batch on the unit's activity): the
largest, and how many units exceed 0.2; on synthetic data the planted programs' best-unit |r|
and gap, and as the ceiling the data allow, the |r| of an oracle score (each program's genes'
mean log-normalised expression, the true capture and depth factors divided out: no model);
seconds.
Transfer rows: a model trained on one technology (or one donor), transferred into the other
with tl.transfer (which fits only the new batch's parameters), scored by each query cell's 15
nearest reference cells: the share with the query cell's cell line (type), and the query's
biology NMI on the transferred units against a model trained on the query itself.
Peers when installed (skipped with a message when not): Harmony (harmonypy) on 50 PCs; scVI
and LinearSCVI (scvi-tools) with batch_key, 10 latents, 200 epochs; DRVI (drvi-py) with the
batch as its categorical covariate, 32 latents, 200 epochs.
Flags: --quick (one seed; 3 on synthetic data), --real-only (no synthetic data),
--synthetic-only, --studies-only.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/batch.py [--quick: one seed]
"""

from __future__ import annotations

import sys
import time
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from _common import kmeans_nmi, quiet
from modules import correlations
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

import scsaliency as ss
from scsaliency._core.stats import eta_squared

warnings.filterwarnings("ignore")
K = 15


def neighbour_shares(rep, batch, bio) -> tuple[float, float]:
    """Mean share of each cell's K nearest neighbours (itself excluded) in its batch, biology."""
    idx = NearestNeighbors(n_neighbors=K + 1).fit(rep).kneighbors(rep, return_distance=False)[:, 1:]
    b, y = np.asarray(batch), np.asarray(bio)
    return float((b[idx] == b[:, None]).mean()), float((y[idx] == y[:, None]).mean())


def batch_asw(rep, batch) -> float:
    return float(1 - abs(silhouette_score(rep, np.asarray(batch))))


def bio_nmi(rep, bio) -> float:
    return float(np.mean(kmeans_nmi(rep, bio)))


def unit_batch_share(rep, batch) -> np.ndarray:
    """Per unit (column of ``rep``), eta squared between batches, as ``get.batch_share``."""
    return eta_squared(rep, pd.Categorical(batch).codes)


def scib_lisi(rep, batch, bio) -> str:
    """iLISI and cLISI of scib-metrics (Luecken et al. 2022), scaled to [0, 1] (1 = best).

    On the 90 nearest neighbours (scib's choice for LISI), exact; "- | -" when scib-metrics is
    not installed.
    """
    try:
        from scib_metrics import clisi_knn, ilisi_knn
        from scib_metrics.nearest_neighbors import NeighborsResults
    except ImportError:
        return "- | -"
    n = min(90, len(rep) - 1)
    dist, idx = NearestNeighbors(n_neighbors=n + 1).fit(rep).kneighbors(rep)
    knn = NeighborsResults(indices=idx[:, 1:], distances=dist[:, 1:])
    ilisi = ilisi_knn(knn, np.asarray(pd.Categorical(batch).codes))
    clisi = clisi_knn(knn, np.asarray(pd.Categorical(bio).codes))
    return f"{float(ilisi):.2f} | {float(clisi):.2f}"


def row(name, rep, batch, bio, seconds, units=None, extra=""):
    same_b, same_y = neighbour_shares(rep, batch, bio)
    share = "" if units is None else unit_batch_share(units, batch)
    shares = "- | -" if units is None else f"{share.max():.2f} | {(share > 0.2).sum()}"
    print(
        f"| {name} | {same_b:.2f} | {same_y:.2f} | {batch_asw(rep, batch):.2f} | "
        f"{bio_nmi(rep, bio):.3f} | {scib_lisi(rep, batch, bio)} | {shares} |{extra} "
        f"{seconds:.0f} |",
        flush=True,
    )


def ours(adata, seed, **kw):
    a = adata.copy()
    t = time.perf_counter()
    ss.tl.ortho_ae(a, random_state=seed, progress=False, **kw)
    return a, time.perf_counter() - t


def harmony(adata, batch_key, seed):
    try:
        import harmonypy
    except ImportError:
        print("| Harmony on PCA | skipped: harmonypy is not installed |")
        return None
    b = adata.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    t = time.perf_counter()
    sc.pp.pca(b, n_comps=50, random_state=seed)
    quiet("harmonypy")
    out = harmonypy.run_harmony(b.obsm["X_pca"], b.obs, batch_key, random_state=seed)
    z = np.asarray(out.Z_corr)
    z = z.T if z.shape[0] != b.n_obs else z
    return b.obsm["X_pca"], z, time.perf_counter() - t


def fit_peer(cls, adata, setup: dict, model: dict, epochs: int):
    """A scvi-tools-style model on ``adata``'s counts: its latent representation and seconds."""
    a = adata.copy()
    a.layers["counts"] = a.X.copy()
    cls.setup_anndata(a, layer="counts", **setup)
    t = time.perf_counter()
    m = cls(a, **model)
    m.train(max_epochs=epochs, accelerator="cpu", enable_progress_bar=False)
    return m.get_latent_representation(), time.perf_counter() - t


def peers_scvi(adata, batch_key, batch, bio, seed):
    """scVI and LinearSCVI with batch_key (10 latents, 200 epochs, as the issue's trial), DRVI.

    DRVI's units are its latents (mean of the posterior); the unit batch share columns are
    computed on them as on ours.
    """
    try:
        import scvi
    except ImportError:
        for name in ("scVI", "LinearSCVI"):
            print(f"| {name} | skipped: scvi-tools is not installed |")
    else:
        quiet("scvi", "lightning", "lightning.pytorch")
        scvi.settings.seed = seed
        for name, cls in (("scVI", scvi.model.SCVI), ("LinearSCVI", scvi.model.LinearSCVI)):
            z, dt = fit_peer(cls, adata, {"batch_key": batch_key}, {"n_latent": 10}, 200)
            row(f"{name}, batch_key (10 latents, 200 epochs)", z, batch, bio, dt)
    try:
        from drvi.model import DRVI
    except ImportError:
        print("| DRVI | skipped: drvi-py is not installed |")
    else:
        quiet("drvi")
        z, dt = fit_peer(
            DRVI,
            adata,
            {"categorical_covariate_keys": [batch_key], "is_count_data": True},
            {"n_latent": 32, "categorical_covariates": [batch_key]},
            DRVI_EPOCHS,
        )
        name = f"DRVI, batch covariate (32 latents, {DRVI_EPOCHS} epochs)"
        row(name, z, batch, bio, dt, units=z)


#: DRVI's epochs (its tutorials train 400 on larger data; 200 as scVI here).
DRVI_EPOCHS = 200

HEADER = (
    "| model | same batch | same biology | batch ASW | biology NMI | iLISI | cLISI | "
    "largest unit batch share | units > 0.2 |{extra} s |"
)


def real_table(title, adata, batch_key, bio_key, seeds):
    batch, bio = adata.obs[batch_key].astype(str), adata.obs[bio_key].astype(str)
    print(
        f"\n# {title}: {adata.n_obs} cells x {adata.n_vars} genes; "
        f"batch {batch_key}, biology {bio_key}"
    )
    print(f"# a perfect mix: same batch {(batch.value_counts(normalize=True) ** 2).sum():.2f}")
    print(HEADER.format(extra=""))
    print("|---|" + "---:|" * 9)
    spreads = []
    for seed in seeds:
        for label, kw in (("default", {}), ("batch_key", {"batch_key": batch_key})):
            a, dt = ours(adata, seed, **kw)
            if kw:
                spreads.append(factor_spread(a))
            rep = np.sqrt(a.obsm["X_ortho_ae"])
            row(f"ours, {label} (seed {seed})", rep, batch, bio, dt, units=a.obsm["X_ortho_ae"])
            t = time.perf_counter()
            ss.tl.align(a, batch_key, random_state=seed, progress=False)
            aligned, da = a.obsm["X_ortho_ae_aligned"], time.perf_counter() - t
            row(f"ours, {label} + tl.align (seed {seed})", aligned, batch, bio, dt + da)
    h = harmony(adata, batch_key, seeds[0])
    if h is not None:
        pca, z, dt = h
        row("PCA(50), uncorrected", pca, batch, bio, 0)
        row("Harmony on PCA(50)", z, batch, bio, dt)
    peers_scvi(adata, batch_key, batch, bio, seeds[0])
    print(
        f"# batch_key's learned factors: spread {np.mean(spreads):.2f} (sd over genes of the log "
        "factors' difference between batches, as in the synthetic table's spread column)"
    )


def transfer_rows(title, adata, batch_key, bio_key, seed):
    print(f"\n# {title}, transfer: model trained on one {batch_key}, transferred into the other")
    print(
        "| reference -> query | query cells' same-biology share among reference neighbours "
        "| query biology NMI, transferred / trained on the query | fit s |"
    )
    print("|---|---:|---:|---:|")
    for ref_b in sorted(adata.obs[batch_key].astype(str).unique()):
        is_ref = (adata.obs[batch_key].astype(str) == ref_b).to_numpy()
        ref, query = adata[is_ref].copy(), adata[~is_ref].copy()
        for part in (ref, query):
            part.obs[batch_key] = part.obs[batch_key].astype(str).astype("category")
        yr = ref.obs[bio_key].astype(str).to_numpy()
        yq = query.obs[bio_key].astype(str).to_numpy()
        own = bio_nmi(np.sqrt(ours(query, seed)[0].obsm["X_ortho_ae"]), yq)
        for label, kw in (("default", {}), ("batch_key", {"batch_key": batch_key})):
            ss.tl.ortho_ae(ref, random_state=seed, progress=False, **kw)
            t = time.perf_counter()
            ss.tl.transfer(query, ref)
            dt = time.perf_counter() - t
            r, q = np.sqrt(ref.obsm["X_ortho_ae"]), np.sqrt(query.obsm["X_ortho_ae"])
            idx = NearestNeighbors(n_neighbors=K).fit(r).kneighbors(q, return_distance=False)
            share = float((yr[idx] == yq[:, None]).mean())
            nmi = bio_nmi(q, yq)
            qb = ", ".join(sorted(query.obs[batch_key].astype(str).unique()))
            print(
                f"| {ref_b} -> {qb}, {label} | {share:.2f} | {nmi:.3f} / {own:.3f} | {dt:.1f} |",
                flush=True,
            )


def kang_stimulation(adata, seeds):
    """Does the interferon response survive batch_key="donor" as a unit of its own?"""
    print("\n# Kang 2018: units labelled with an interferon Hallmark set; per cell type, Cohen's d")
    print("# of the unit's activity, stimulated vs control (cells), and the test across samples")
    print("| model | unit: set | " + " | ".join(sorted(adata.obs["cell_type"].unique())) + " |")
    print("|---|---|" + "---:|" * adata.obs["cell_type"].nunique())
    types = sorted(adata.obs["cell_type"].unique())
    for seed in seeds:
        for label, kw in (("default", {}), ("batch_key=donor", {"batch_key": "donor"})):
            a, _ = ours(adata, seed, **kw)
            ss.tl.saliency(a, progress=False)
            ss.tl.geneset_impact(
                a,
                "hallmark",
                groupby="condition",
                sample_key="sample",
                random_state=seed,
                progress=False,
            )
            u = ss.get.units(a)
            ifn = u[(u["status"] == "carries a set") & u["gene_set"].str.contains("INTERFERON")]
            if ifn.empty:
                print(f"| {label} (seed {seed}) | no unit carries an interferon set |")
            for _, r in ifn.iterrows():
                z = a.obsm["X_ortho_ae"][:, int(r["unit"])]
                ds = []
                for t in types:
                    cells = (a.obs["cell_type"] == t).to_numpy()
                    st = cells & (a.obs["condition"] == "stim").to_numpy()
                    ct = cells & (a.obs["condition"] == "ctrl").to_numpy()
                    pooled = np.sqrt((z[st].var(ddof=1) + z[ct].var(ddof=1)) / 2)
                    ds.append((z[st].mean() - z[ct].mean()) / max(pooled, 1e-12))
                name = r["gene_set"].replace("HALLMARK_", "")
                cells_txt = " | ".join(f"{d:.1f}" for d in ds)
                print(f"| {label} (seed {seed}) | {r['unit']}: {name} | {cells_txt} |", flush=True)
            d = ss.get.impact_diff(a, "stim", "ctrl")
            best = d.loc[d["gene_set"].str.contains("INTERFERON_ALPHA")].nlargest(1, "diff")
            for _, r in best.iterrows():
                print(
                    f"|  | impact_diff stim vs ctrl, {d.attrs['test']} over "
                    f"{d.attrs['samples1']} + {d.attrs['samples2']} samples: unit {r['unit']}, "
                    f"effect size {r['effect_size']:.1f}, p {r['pval']:.2g} | |",
                    flush=True,
                )


def mixology():
    a = ss.datasets.mixology()
    b = a.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.highly_variable_genes(b, n_top_genes=3000, flavor="seurat", batch_key="technology")
    a = a[:, b.var["highly_variable"].to_numpy()].copy()
    a.obs["technology"] = a.obs["technology"].astype("category")
    return a


def kang():
    a = ss.datasets.kang18()
    a.obs["donor"] = a.obs["donor"].astype(str).astype("category")
    return a


#: The cell types the two PBMC studies share, in each study's names.
PBMC_TYPES = {
    "Naive CD4 T": "CD4 T",
    "Memory CD4 T": "CD4 T",
    "CD4 T cells": "CD4 T",
    "CD8 T": "CD8 T",
    "CD8 T cells": "CD8 T",
    "B": "B",
    "B cells": "B",
    "CD14+ Mono": "CD14+ Mono",
    "CD14+ Monocytes": "CD14+ Mono",
    "FCGR3A+ Mono": "FCGR3A+ Mono",
    "FCGR3A+ Monocytes": "FCGR3A+ Mono",
}


def pbmc_studies():
    """Two PBMC studies: PBMC 3k (one donor) and Kang 2018's control cells (two other donors,
    other runs), on their shared genes and their shared cell types (names harmonised)."""
    p, k = ss.datasets.pbmc3k(), ss.datasets.kang18()
    k = k[(k.obs["condition"] == "ctrl").to_numpy()]
    genes = p.var_names.intersection(k.var_names)
    parts = []
    for name, a in (("PBMC 3k", p), ("Kang 2018 ctrl", k)):
        types = a.obs["cell_type"].astype(str).map(PBMC_TYPES)
        a = a[types.notna().to_numpy(), genes].copy()
        a.obs = pd.DataFrame(
            {"study": name, "cell_type": types.dropna().to_numpy()}, index=a.obs_names
        )
        parts.append(a)
    a = ad.concat(parts, index_unique="-")
    for c in ("study", "cell_type"):
        a.obs[c] = a.obs[c].astype("category")
    return a


def studies_tables(seeds):
    """The two PBMC studies: the methods side by side, and transfer from one into the other."""
    studies = pbmc_studies()
    real_table("two PBMC studies", studies, "study", "cell_type", seeds)
    transfer_rows("two PBMC studies", studies, "study", "cell_type", 0)


def oracle_scores(data) -> np.ndarray:
    """Per planted program, the mean log-normalised expression of its genes, the true factors
    of the cell's sample divided out first: what the data tell of the activity to a scorer that
    knows the programs' genes and the batch effect (no model)."""
    x = data.X.toarray().astype(np.float64)
    if "sample_factors" in data.uns["synthetic"]:
        factors = data.uns["synthetic"]["sample_factors"]
        x /= factors.loc[data.obs["sample"].astype(str)].to_numpy()
    total = x.sum(1, keepdims=True)
    x = np.log1p(x / total * np.median(total))
    sets = data.uns["synthetic"]["gene_sets"]
    programs = data.uns["synthetic"]["programs"]["program"]
    return np.stack(
        [x[:, data.var_names.isin(sets.target[sets.source == p])].mean(1) for p in programs], 1
    )


#: Capture strengths of the synthetic batches (sd of each gene's log factor per batch): by the
#: spread of the factors learned (``factor_spread``), the two technologies of the mixture sit
#: near 0.35, the two PBMC studies near 0.5, Kang's donors below 0.3; 1.0 is twice the strongest.
STRENGTHS = (0.3, 0.5, 1.0)
SYNTHETIC = dict(n_cells=1500, n_genes=400, n_groups=4, activity="independent", fold_change=4.0)


def planted_scores(rep, data) -> tuple[float, float]:
    """The planted programs' best-unit |r| and gap (best minus second best), means."""
    srt = np.sort(correlations(rep, _activity(data)), axis=1)
    return float(srt[:, -1].mean()), float((srt[:, -1] - srt[:, -2]).mean())


def synthetic_table(seeds):
    """Planted programs with batches of three strengths against the same data without batches.

    Per seed and strength the batch-free data and the data with batches share their programs
    and activities; the differences in |r| and gap are paired by seed and averaged (with their
    standard error), as one seed's batch-free |r| alone spans 0.80-0.93.
    """
    print(
        f"\n# synthetic: 3 batches (capture sd {' / '.join(map(str, STRENGTHS))}, depth sd "
        f"0.5), 4 independent programs; means over {len(seeds)} seeds"
    )
    print(
        "| capture sd | model | spread | same batch (perfect 0.33) | largest unit batch share | "
        "units > 0.2 | r | gap | r - batch-free | gap - batch-free | oracle r - batch-free | s |"
    )
    print("|---:|---|" + "---:|" * 10)
    out: dict[tuple, list[dict]] = {}
    for seed in seeds:
        clean = ss.datasets.synthetic(**SYNTHETIC, random_state=seed)
        m, dt = ours(clean, seed)
        r0, g0 = planted_scores(m.obsm["X_ortho_ae"], clean)
        o0 = _oracle_r(clean)
        out.setdefault(("-", "batch-free data"), []).append({"r": r0, "gap": g0, "s": dt})
        for sd in STRENGTHS:
            a = ss.datasets.synthetic(
                **SYNTHETIC, n_samples=3, sample_effect=sd, library_effect=0.5, random_state=seed
            )
            oracle = _oracle_r(a) - o0
            for label, kw in (("default", {}), ("batch_key", {"batch_key": "sample"})):
                m, dt = ours(a, seed, **kw)
                units = m.obsm["X_ortho_ae"]
                r, g = planted_scores(units, a)
                share = unit_batch_share(units, a.obs["sample"])
                same = neighbour_shares(np.sqrt(units), a.obs["sample"], a.obs["group"])[0]
                out.setdefault((sd, label), []).append(
                    {
                        "spread": factor_spread(m) if kw else np.nan,
                        "same": same,
                        "largest": share.max(),
                        "above": (share > 0.2).sum(),
                        "r": r,
                        "gap": g,
                        "dr": r - r0,
                        "dgap": g - g0,
                        "oracle": oracle,
                        "s": dt,
                    }
                )
    for (sd, label), rows in out.items():
        v = pd.DataFrame(rows)
        if sd == "-":
            cells = "- | - | - | - | - |"
            diffs = "- | - | -"
        else:
            spread = "-" if v["spread"].isna().all() else f"{v['spread'].mean():.2f}"
            cells = f"{spread} | {v['same'].mean():.2f} | {v['largest'].max():.2f} | "
            cells = f"{cells}{int(v['above'].max())} |"
            diffs = f"{_mean_se(v['dr'])} | {_mean_se(v['dgap'])} | {v['oracle'].mean():+.3f}"
        print(
            f"| {sd} | {label} | {cells} {v['r'].mean():.3f} | {v['gap'].mean():.3f} | "
            f"{diffs} | {v['s'].mean():.1f} |",
            flush=True,
        )
    print(
        "# spread: sd over genes of the learned log factors' difference between two batches "
        "(mean over pairs); largest unit batch share and units > 0.2: the worst seed"
    )


def _mean_se(values: pd.Series) -> str:
    return f"{values.mean():+.3f} +- {values.std(ddof=1) / np.sqrt(len(values)):.3f}"


def _oracle_r(data) -> float:
    """The oracle score's |r| with its own planted program, the mean over programs."""
    return float(np.diag(correlations(oracle_scores(data), _activity(data))).mean())


def _activity(data) -> np.ndarray:
    return data.obs[[c for c in data.obs.columns if c.endswith("_activity")]].to_numpy()


def factor_spread(model: ad.AnnData, min_mean: float = 0.1) -> float:
    """How strong the batch effect a model learned is: the sd over genes of the difference of
    two batches' log factors (natural log), the mean over pairs of batches, on genes with a
    mean count of at least ``min_mean`` (where the factors are identifiable)."""
    f = ss.get.batch_effects(model).pivot(index="gene", columns="batch", values="log2_fold_change")
    mean = np.asarray(model.X.mean(0)).ravel()
    f = f.loc[f.index.isin(model.var_names[mean >= min_mean])] * np.log(2)
    cols = list(f.columns)
    pairs = [(i, j) for i in range(len(cols)) for j in range(i + 1, len(cols))]
    return float(np.mean([np.std(f[cols[i]] - f[cols[j]]) for i, j in pairs]))


if __name__ == "__main__":
    import torch

    quick = "--quick" in sys.argv
    seeds = [0] if quick else [0, 1]
    synthetic_seeds = list(range(3 if quick else 10))
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "--synthetic-only" in sys.argv:
        synthetic_table(synthetic_seeds)
        sys.exit(0)
    if "--studies-only" in sys.argv:
        studies_tables(seeds)
        sys.exit(0)
    mix = mixology()
    real_table("cell-line mixture", mix, "technology", "cell_line", seeds)
    transfer_rows("cell-line mixture", mix, "technology", "cell_line", 0)
    k = kang()
    real_table("Kang 2018", k, "donor", "cell_type", seeds)
    studies_tables(seeds)
    if "--real-only" in sys.argv:
        sys.exit(0)
    kang_stimulation(k, seeds)
    synthetic_table(synthetic_seeds)
