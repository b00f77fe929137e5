# %% [markdown]
# # PBMC 3k: which programs do the units of an orthogonal autoencoder carry?
#
# Raw counts -> `tl.ortho_ae` -> UMAP of the input next to UMAP of the representation
# (Kinalis et al. 2019, Figure 1a/c) -> impact of Hallmark and cell-type marker sets on each
# unit (Figure 1d) -> each cell type against the rest (Figures 1e and 2), with statistics.
#
# Data: `ss.datasets.pbmc3k()` reads the file named in `data_manifest.yaml` from
# `$SCSALIENCY_DATA_DIR` (or the cache).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scanpy as sc

import scsaliency as ss

FIGDIR = Path(os.environ.get("SCSALIENCY_FIGDIR", "figures"))
FIGDIR.mkdir(parents=True, exist_ok=True)

adata = ss.datasets.pbmc3k()
adata = adata[adata.obs["cell_type"].notna()].copy()
adata.obs["cell_type"] = adata.obs["cell_type"].astype("category")
adata

# %% [markdown]
# The model uses the genes of the Hallmark sets and of seven PBMC marker sets that are detected
# in at least 3 cells (the paper also restricted the input to Hallmark genes).

# %%
gene_sets = {**ss.genesets.as_dict("hallmark", adata.var_names), **ss.datasets.pbmc_markers()}
in_sets = adata.var_names.str.upper().isin({g.upper() for s in gene_sets.values() for g in s})
detected = np.asarray((adata.X > 0).sum(0)).ravel() >= 3
adata.var["used"] = in_sets & detected
print(f"{adata.var['used'].sum()} genes used")

# %% [markdown]
# ## Train the consensus model
# Each run is the paper's recipe: Poisson loss on the counts, size-factor aware input,
# orthogonality penalty on the last encoder layer, early stopping on a validation split. A
# single run's units depend on its seed: train again and about half of them carry other
# programs (the Measured page). So, as cNMF does, `n_runs=6` trains six runs with different
# seeds, clusters their gene programs, and keeps as units the programs that come back in at
# least half of the runs; a last training fits the encoder to these fixed programs, so that
# every cell gets its activities. `n_latent` (64) is each run's number of units; the model has
# as many units as programs came back.

# %%
ss.tl.ortho_ae(adata, mask_var="used", n_runs=6, random_state=0, progress=False)
consensus = adata.uns["ortho_ae"]["consensus"]
print(
    f"{adata.obsm['X_ortho_ae'].shape[1]} programs came back in at least half of the "
    f"{consensus['params']['n_runs']} runs of {consensus['params']['n_latent_runs']} units "
    f"({consensus['params']['n_clusters']} clusters of programs in all)"
)
consensus["units"]["runs"].value_counts().sort_index(ascending=False)

# %%
ss.pl.training_history(adata, show=False)
plt.show()

# %% [markdown]
# ## UMAP of the input next to UMAP of the representation
# The neighbour graph is built on the square root of the units: a unit's activity enters the
# Poisson rate linearly, so its noise grows with it, and the square root evens that out
# (the Measured page compares neighbour graphs on the units and on their square root).

# %%
b = adata.copy()
sc.pp.normalize_total(b, target_sum=1e4)
sc.pp.log1p(b)
sc.pp.pca(b, n_comps=50, mask_var="used", random_state=0)
sc.pp.neighbors(b, random_state=0)
sc.tl.umap(b, random_state=0)
adata.obsm["X_umap_input"] = b.obsm["X_umap"]
adata.obsm["X_ortho_ae_sqrt"] = np.sqrt(adata.obsm["X_ortho_ae"])
sc.pp.neighbors(adata, use_rep="X_ortho_ae_sqrt", random_state=0)
sc.tl.umap(adata, random_state=0)
fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
sc.pl.embedding(
    adata,
    "umap_input",
    color="cell_type",
    ax=axes[0],
    show=False,
    legend_loc=None,
    title="input: 50 PCs of log-normalised counts",
)
sc.pl.umap(
    adata, color="cell_type", ax=axes[1], show=False, title="ortho_ae representation (square root)"
)
plt.show()

# %% [markdown]
# ## Saliency and gene-set impact
# Saliency is the gradient of each unit times each gene's deviation from the mean cell (the
# default; the paper's guided backpropagation is `method="guided"`), per cell type; impacts of
# every set on every unit, with z-scores against expression-matched random gene sets. The
# default heatmap shows the z-scores
# (what distinguishes the units), units labelled with the set each carries and ordered so that
# each unit's sets sit beside it; the paper's min-max scaled map is one option away, and there
# the expression level that every unit shares dominates (horizontal stripes).

# %%
ss.tl.saliency(adata, groupby="cell_type", progress=False)
ss.tl.geneset_impact(adata, gene_sets, groupby="cell_type", progress=False)
ss.pl.impact_heatmap(adata, show=False, save=FIGDIR / "pbmc3k_impact_heatmap.png")
ss.pl.impact_heatmap(
    adata,
    values="scaled",
    order="cluster",
    show=False,
)
plt.show()

# %% [markdown]
# ## Each cell type against the rest
# Figure 1e of the paper: the difference over the high-impact part of the whole-data map, here
# NK cells against all others, both groups scaled on one common scale (the paper scaled each
# group on its own, which makes nearly every unit look lower in a small group); dots mark
# significant differences (Welch's test, cells as replicates, BH-adjusted: one donor here, so
# cells are the only replicates there are).

# %%
ss.pl.impact_diff(adata, "NK", groupby="cell_type", show=False)
ss.pl.impact_heatmap(
    adata,
    groups=["B", "NK", "CD14+ Mono", "FCGR3A+ Mono", "DC", "Platelet"],
    top=20,
    show=False,
)
plt.show()

# %% [markdown]
# Which marker set does each cell type raise most, on its best unit? The type's own marker set
# should come first.

# %%
labels = ss.datasets.PBMC_MARKER_LABELS
adata.obs["major"] = (
    adata.obs["cell_type"]
    .map({lab: k for k, labs in labels.items() for lab in labs})
    .astype("category")
)
ss.tl.geneset_impact(
    adata, gene_sets, groupby="major", key_added="impact_major", n_null=0, progress=False
)
rows = []
for ctype in labels:
    d = ss.get.impact_diff(adata, ctype, key="impact_major")
    d = d[d.gene_set.str.startswith("MARKERS_")]
    best = d.loc[d.groupby("gene_set")["diff"].idxmax()].sort_values("diff", ascending=False)
    top = best.iloc[0]
    rows.append((ctype, top["gene_set"], top["unit"], round(top["diff"], 4), top["padj"]))
    assert top["gene_set"] == f"MARKERS_{ctype}", (ctype, top["gene_set"])
import pandas as pd  # noqa: E402

pd.DataFrame(rows, columns=["cell type", "top marker set", "unit", "diff", "padj"])

# %% [markdown]
# ## Which unit carries which program
# `ss.get.units` answers per unit: its best set (highest z-score), how significant, how
# specific (margin to its second set; share of the set's z-score that falls on this unit),
# and a label. Units whose best set is not significant say so instead of being forced onto one.

# %%
units = ss.get.units(adata)
carried = units[units["status"] == "carries a set"]
n_sets = carried.gene_set.nunique()
print(f"{len(carried)} of {len(units)} units carry a set; {n_sets} distinct sets")
cols = ["unit", "gene_set", "zscore", "padj", "margin", "share", "label"]
print(carried[carried.gene_set.str.startswith("MARKERS_")][cols].to_string(index=False))
ss.pl.unit_activity(adata, gene_set="MARKERS_NK", n_units=3, show=False, save=None)
plt.show()

# %% [markdown]
# ## How far to trust each unit
# `stability` is the share of the six runs that found the unit's program: 1 for a program every
# run finds. No unit of the consensus model is below one half; programs that fewer runs found
# were the seeds', and are not units. A unit whose best sets are close (within 0.8 of the best
# z-score, both significant) names them together, e.g. "INTERFERON ALPHA RESPONSE / INTERFERON
# GAMMA RESPONSE", instead of letting a threshold pick one.

# %%
print(
    units[["unit", "gene_sets", "zscore", "stability", "status"]]
    .sort_values("stability", ascending=False)
    .to_string(index=False)
)
