# %% [markdown]
# # A model that travels: explain a second data set in the units of the first
#
# The paper's closing idea is a "fixed feature extractor": train once, then describe new data
# sets in the same units, so that a unit means the same program everywhere and groups of
# cells can be compared across data sets. `ss.tl.transfer` does this without training.
#
# Only one human PBMC data set ships with the project's data, so the second data set is made
# from it honestly: the model is trained on a random half of PBMC 3k (data set "A"), and the
# other half (data set "B") is thinned to 60 % of its counts, as a shallower sequencing run of
# similar blood would be. B's genes are also put in another order and 10 % of the model's
# genes are removed from B, as happens between data sets from different pipelines.

# %%
import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp

import scsaliency as ss

rng = np.random.default_rng(0)

pbmc = ss.datasets.pbmc3k()
pbmc = pbmc[pbmc.obs["cell_type"].notna()].copy()
pbmc.obs["cell_type"] = pbmc.obs["cell_type"].astype("category")
gene_sets = {**ss.genesets.as_dict("hallmark", pbmc.var_names), **ss.datasets.pbmc_markers()}
in_a = np.zeros(pbmc.n_obs, dtype=bool)
in_a[rng.permutation(pbmc.n_obs)[: pbmc.n_obs // 2]] = True
ref = pbmc[in_a].copy()
detected = np.asarray((ref.X > 0).sum(0)).ravel() >= 3
ref.var["used"] = ss.genesets.in_sets(ref.var_names, gene_sets) & detected

query = pbmc[~in_a].copy()
counts = sp.csr_matrix(query.X)
counts.data = rng.binomial(counts.data.astype(np.int64), 0.6).astype(np.float32)
counts.eliminate_zeros()
query.X = counts
used = np.flatnonzero(ref.var["used"])
dropped = rng.choice(used, len(used) // 10, replace=False)
keep = np.setdiff1d(np.arange(query.n_vars), dropped)
query = query[:, rng.permutation(keep)].copy()
print(f"A: {ref.n_obs} cells; B: {query.n_obs} cells, {query.n_vars} genes in another order")

# %% [markdown]
# ## Train on A, transfer to B
# The reference's model is the consensus of 6 runs (`n_runs=6`). `tl.transfer` takes the model
# stored in the reference (an AnnData, or an `.h5ad` path read
# backed), matches genes by name, enters the missing ones as zeros with a warning, and writes
# B's representation. No training: it takes a fraction of a second.

# %%
ss.tl.ortho_ae(ref, mask_var="used", n_runs=6, random_state=0, progress=False)  # consensus
ss.tl.transfer(query, ref)
query.uns["ortho_ae"]["transfer"]

# %% [markdown]
# ## The same units carry the same sets in both data sets
# Saliency and gene-set impact are computed on each data set separately; each unit's best set
# (`ss.get.units`) is then compared.

# %%
for data in (ref, query):
    ss.tl.saliency(data, groupby="cell_type", progress=False)
    ss.tl.geneset_impact(data, gene_sets, groupby="cell_type", progress=False)
units = ss.get.units(ref).merge(ss.get.units(query), on="unit", suffixes=(" A", " B"))
carried = units[units["status A"] == "carries a set"]
same = (carried["gene_set A"] == carried["gene_set B"]).mean()
print(f"{len(carried)} units carry a set in A; in B, {same:.0%} of them carry the same set")
carried[["unit", "gene_set A", "zscore A", "gene_set B", "zscore B"]].head(15)

# %%
fig, axes = plt.subplots(1, 2, figsize=(16, 7), layout="constrained")
for ax, data, title in [(axes[0], ref, "A (trained on)"), (axes[1], query, "B (transferred)")]:
    ss.pl.impact_heatmap(data, top=25, ax=ax, show=False)
    ax.set_title(f"{title}: z-scores, top sets")
plt.show()

# %% [markdown]
# ## A cell type compared across the two data sets, in the same units
# Both data sets together, explained by A's model: NK cells of A against NK cells of B.
# Only the thinning and the missing genes differ between them; NK against the other cells of B
# shows what a biological difference looks like in the same units. The table below holds both
# comparisons and how many times smaller the difference across data sets is. A shallower run
# shifts every impact a little, and with about 150 cells per group the cell-level test can call
# some of those shifts significant: read the effect sizes, and compare cell types within a data
# set where you can.

# %%
both = ad.concat({"A": ref, "B": query}, label="dataset", join="inner")
both.obs["type_in_set"] = (
    both.obs["cell_type"].astype(str) + " in " + both.obs["dataset"].astype(str)
).astype("category")
ss.tl.transfer(both, ref)
ss.tl.saliency(both, progress=False)
ss.tl.geneset_impact(both, gene_sets, groupby="type_in_set", n_null=200, progress=False)
across = ss.get.impact_diff(both, "NK in A", "NK in B")
within = ss.get.impact_diff(both, "NK in B", "rest")
summary = pd.DataFrame(
    {
        "median |scaled diff|": [
            across["scaled_diff"].abs().median(),
            within["scaled_diff"].abs().median(),
        ],
        "share padj < 0.05": [(across["padj"] < 0.05).mean(), (within["padj"] < 0.05).mean()],
    },
    index=["NK in A vs NK in B", "NK in B vs all other cells"],
)
ratio = summary.iloc[1, 0] / summary.iloc[0, 0]
print(f"the difference across data sets is {ratio:.0f} times smaller than across cell types")
summary

# %%
ss.pl.impact_diff(both, "NK in A", "NK in B", show=False)
plt.show()
