# %% [markdown]
# # A stimulation study: interferon-beta on PBMC of two donors (Kang et al. 2018)
#
# PBMC of two donors, each profiled as a control and after interferon-beta stimulation (the
# subset of Kang et al. 2018 that Bioconductor's muscat ships: 1,556 cells, 1,267 genes, five
# cell types, four samples). Three questions: which units carry the interferon response, in
# which cell types it goes up, and what two donors can and cannot support statistically.
#
# The donors are a technical covariate here (`batch_key="donor"`), so that the units need not
# carry what differs between the two people; the condition is the biology and is never passed
# as a batch.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc
from sklearn.neighbors import NearestNeighbors

import scsaliency as ss

warnings.filterwarnings("ignore", message=".*samples with at least min_cells")
adata = ss.datasets.kang18()
pd.crosstab(adata.obs["cell_type"], adata.obs["sample"])

# %%
# the consensus model of 6 runs: units that another seed reproduces
ss.tl.ortho_ae(adata, batch_key="donor", n_runs=6, random_state=0, progress=False)
ss.tl.saliency(adata, progress=False)
ss.tl.geneset_impact(
    adata, "hallmark", groupby="condition", sample_key="sample", random_state=0, progress=False
)
units = ss.get.units(adata)
ifn = units[(units["status"] == "carries a set") & units["gene_set"].str.contains("INTERFERON")]
ifn[["unit", "gene_set", "zscore", "second_set"]]

# %% [markdown]
# ## In which cell types does each interferon unit go up?
# Per unit and cell type, Cohen's d of the unit's activity between stimulated and control
# cells (the difference of the means over the pooled standard deviation).

# %%
rows = {}
for r in ifn.itertuples():
    z = adata.obsm["X_ortho_ae"][:, r.unit]
    d = {}
    for ctype in adata.obs["cell_type"].cat.categories:
        cells = (adata.obs["cell_type"] == ctype).to_numpy()
        stim = z[cells & (adata.obs["condition"] == "stim").to_numpy()]
        ctrl = z[cells & (adata.obs["condition"] == "ctrl").to_numpy()]
        d[ctype] = (stim.mean() - ctrl.mean()) / np.sqrt((stim.var(ddof=1) + ctrl.var(ddof=1)) / 2)
    rows[f"{r.unit}: {r.gene_set.removeprefix('HALLMARK_')}"] = d
effects = pd.DataFrame(rows).T.round(2)
everywhere = effects[(effects > 0.5).all(axis=1)]
print(
    f"{len(everywhere)} interferon unit(s) go up (d > 0.5) in every cell type: "
    f"{', '.join(everywhere.index) or 'none'}"
)
effects

# %%
fig, ax = plt.subplots(figsize=(7, 0.4 * len(effects) + 1.5), layout="constrained")
im = ax.imshow(effects.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto")
ax.set_xticks(range(effects.shape[1]), effects.columns, rotation=30, ha="right")
ax.set_yticks(range(len(effects)), effects.index, fontsize=8)
fig.colorbar(im, ax=ax, label="Cohen's d, stimulated - control")
ax.set_title("Interferon units: stimulated vs control, per cell type", fontsize=9)
plt.show()

# %% [markdown]
# ## What two donors can and cannot support
# With `sample_key="sample"`, `get.impact_diff` tests across samples (pseudobulks), not
# cells: cells of one donor are not independent replicates. Stimulated and control cells
# come from different samples of the same two donors, so each condition has two samples, fewer
# than the test's minimum (`min_samples=3`): no p-value is given, and the table keeps the
# difference and the effect size. The same comparison with cells as replicates gives tiny
# p-values that describe these 1,556 cells, not a population of donors.

# %%
d = ss.get.impact_diff(adata, "stim", "ctrl")
print(d.attrs["test"], "| samples:", d.attrs["samples1"], "+", d.attrs["samples2"])
top = d[d["gene_set"].str.contains("INTERFERON")].nlargest(5, "diff")
top[["gene_set", "unit", "diff", "effect_size", "pval"]]

# %%
cells = ss.get.impact_diff(adata, "stim", "ctrl", test="cells")
row = cells.loc[top.index[0]]
print(
    f"cells as replicates: p = {row['pval']:.1e} for {row['gene_set']} on unit {row['unit']} "
    f"(the pseudobulk test gave no p-value: {top.iloc[0]['pval']})"
)

# %%
ss.pl.impact_diff(adata, "stim", "ctrl", top=20, show=False)
plt.show()

# %% [markdown]
# Which genes the donors move, kept out of the units by `batch_key`:

# %%
ss.get.batch_effects(adata, n_top=5)

# %% [markdown]
# ## The cell graph across donors
#
# `batch_key` keeps the donors out of the units; `tl.align` also aligns the representation that
# neighbours and UMAP are built on (the square root of the units, clustered softly with every
# donor in each cluster: Harmony's algorithm). The units, their sets and the tests above do not
# change. The share of each cell's 15 neighbours from its own donor, before and after (a perfect
# mix is the sum of the squared donor shares):

# %%
ss.tl.align(adata, progress=False)
adata.obsm["X_ortho_ae_sqrt"] = np.sqrt(adata.obsm["X_ortho_ae"])
donor = adata.obs["donor"].to_numpy()


def same_donor(rep):
    nn = NearestNeighbors(n_neighbors=16).fit(rep)
    idx = nn.kneighbors(rep, return_distance=False)[:, 1:]
    return (donor[idx] == donor[:, None]).mean()


pd.Series(
    {
        "perfect mix": (adata.obs["donor"].value_counts(normalize=True) ** 2).sum(),
        "units (square root)": same_donor(adata.obsm["X_ortho_ae_sqrt"]),
        "aligned (tl.align)": same_donor(adata.obsm["X_ortho_ae_aligned"]),
    }
).round(2)

# %%
sc.pp.neighbors(adata, use_rep="X_ortho_ae_aligned", key_added="aligned", random_state=0)
sc.tl.umap(adata, neighbors_key="aligned", random_state=0)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
for ax, color in zip(axes, ["cell_type", "donor"], strict=True):
    sc.pl.umap(adata, color=color, ax=ax, show=False)
plt.show()
