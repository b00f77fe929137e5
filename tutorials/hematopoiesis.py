# %% [markdown]
# # Hematopoiesis: the paper's Figures 1 and 2 on the full Paul et al. (2015) data
#
# Kinalis et al. (2019) showed their method first on mouse myeloid progenitors (Paul et al.
# 2015, MARS-seq): UMAP of the input and of the representation (Figure 1a, 1c), the Hallmark
# impact on the units (1d), the difference between a progenitor population and the rest (1e),
# and DMAP hematopoietic signatures per population (Figure 2 on PBMC). Here the same on the full
# data: 2,730 cells, 3,451 genes, 19 clusters. Every statement below is computed by the cell
# above it; where the outcome differs from the paper's, the text printed says so.
#
# DMAP signatures are human (`ss.datasets.dmap_signatures`: per population, the 50 genes most
# above the other populations' mean, log2 difference >= 1). They match the mouse symbols
# case-insensitively (mouse `Gata1` matches human `GATA1`, as most 1:1 orthologs do; genes
# whose symbols differ between species are missed).

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc

import scsaliency as ss

warnings.filterwarnings("ignore", message="The gene sets look human")
adata = ss.datasets.paul15()
print(adata)
adata.obs.groupby("cell_type", observed=True)["paul15_clusters"].unique()

# %% [markdown]
# ## Train on all genes, then explain with mouse Hallmark and DMAP
# The paper trained on all genes of the data; so do we (3,451 genes, about 15 s on 2 CPU
# cores). Two impacts are stored side by side, one per gene-set collection.

# %%
ss.tl.ortho_ae(adata, random_state=0, progress=False)
ss.tl.saliency(adata, groupby="paul15_clusters", progress=False)
hallmark = ss.genesets.as_dict("hallmark", adata.var_names)  # mouse, told from the symbols
dmap = ss.datasets.dmap_signatures()
for name, sets in (("hallmark", hallmark), ("dmap", dmap)):
    ss.tl.geneset_impact(
        adata, sets, groupby="cell_type", key_added=name, random_state=0, progress=False
    )
p = adata.uns["ortho_ae"]["params"]
print(
    f"{p['n_epochs']} epochs; {len(adata.uns['hallmark']['impact'])} Hallmark and "
    f"{len(adata.uns['dmap']['impact'])} DMAP sets share at least 5 genes with the model"
)

# %% [markdown]
# ## Figure 1a and 1c: UMAP of the input and of the representation
# Left, 50 principal components of log-normalised counts (scanpy's defaults); right, the
# square root of the units. The paper's point: the representation keeps the lineages apart as
# well as the input does, in fewer and interpretable dimensions.

# %%
b = adata.copy()
sc.pp.normalize_total(b, target_sum=1e4)
sc.pp.log1p(b)
sc.pp.pca(b, n_comps=50, random_state=0)
sc.pp.neighbors(b, random_state=0)
sc.tl.umap(b, random_state=0)
adata.obsm["X_umap_input"] = b.obsm["X_umap"]
adata.obsm["X_ortho_ae_sqrt"] = np.sqrt(adata.obsm["X_ortho_ae"])
sc.pp.neighbors(adata, use_rep="X_ortho_ae_sqrt", random_state=0)
sc.tl.umap(adata, random_state=0)
fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
sc.pl.embedding(
    adata,
    "X_umap_input",
    color="cell_type",
    ax=axes[0],
    show=False,
    title="input (50 PCs)",
    legend_loc="on data",
    legend_fontsize=7,
)
sc.pl.embedding(
    adata,
    "X_umap",
    color="cell_type",
    ax=axes[1],
    show=False,
    title="representation (square root of the units)",
    legend_loc="on data",
    legend_fontsize=7,
)
plt.show()

# %%
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score  # noqa: E402


def kmeans_nmi(rep, labels, runs=20):
    k = len(set(labels))
    return np.mean(
        [
            normalized_mutual_info_score(
                labels, KMeans(k, n_init=1, random_state=s).fit_predict(rep)
            )
            for s in range(runs)
        ]
    )


labels = adata.obs["paul15_clusters"].astype(str).to_numpy()
nmi = pd.Series(
    {
        "representation (sqrt of units)": kmeans_nmi(adata.obsm["X_ortho_ae_sqrt"], labels),
        "PCA(50) of log-normalised counts": kmeans_nmi(b.obsm["X_pca"], labels),
    }
)
print("KMeans (k = 19 clusters, 20 runs) NMI with the published clusters:")
print(nmi.round(3).to_string())
print(
    "The representation clusters the 19 populations "
    + ("at least as well as" if nmi.iloc[0] >= nmi.iloc[1] else "less well than")
    + " PCA of the input."
)

# %% [markdown]
# ## Figure 1d: which unit carries which Hallmark program

# %%
ss.pl.impact_heatmap(adata, key="hallmark", top=25, show=False)
plt.show()
units = ss.get.units(adata, key="hallmark")
carried = units[units["status"] == "carries a set"]
print(
    f"{len(carried)} of {len(units)} units carry a Hallmark set; "
    f"{carried['gene_set'].nunique()} distinct sets"
)
carried.sort_values("zscore", ascending=False)[["unit", "gene_set", "zscore", "second_set"]].head(
    12
)

# %% [markdown]
# ## Figure 2 on these cells: DMAP signatures per cell type
# The paper's Figure 2 asks whether each population raises its own DMAP signature. Per cell
# type against all other cells, the DMAP signature with the largest difference on any unit,
# and whether it is that population's own (the expected signatures are the DMAP populations of
# the same lineage; lymphoid cells, 31 of them, have B, T and NK signatures).

# %%
expected = {
    "erythroid": ("Erythroid",),
    "MEP": ("Megakaryocyte_erythroid_progenitor", "Erythroid_CD34+"),
    "megakaryocyte": ("Megakaryocyte", "Colony_Forming_Unit-Megakaryocytic"),
    "GMP": ("Granulocyte_monocyte_progenitor", "Common_myeloid_progenitor"),
    "DC": ("Dendritic",),
    "basophil": ("Basophils",),
    "monocyte": ("Monocyte",),
    "neutrophil": ("Granulocyte", "Colony_Forming_Unit-Granulocyte"),
    "eosinophil": ("Eosinophill",),
    "lymphoid": ("B-cell", "T-cell", "NK", "Pro_B"),
}
rows = []
for ctype in adata.obs["cell_type"].cat.categories:
    d = ss.get.impact_diff(adata, ctype, key="dmap")
    best = d.loc[d.groupby("gene_set")["diff"].idxmax()].sort_values("diff", ascending=False)
    top = best.iloc[0]
    rank = next(
        (i + 1 for i, s in enumerate(best["gene_set"]) if any(e in s for e in expected[ctype])),
        None,
    )
    rows.append(
        (
            ctype,
            int((adata.obs["cell_type"] == ctype).sum()),
            top["gene_set"],
            int(top["unit"]),
            round(float(top["effect_size"]), 2),
            rank,
        )
    )
table = pd.DataFrame(
    rows,
    columns=[
        "cell type",
        "cells",
        "top DMAP signature",
        "unit",
        "effect size",
        "rank of its own signature",
    ],
).set_index("cell type")
own = (table["rank of its own signature"] == 1).sum()
print(
    f"{own} of {len(table)} cell types raise their own lineage's DMAP signature most; "
    f"{(table['rank of its own signature'] <= 3).sum()} have it among their top 3."
)
table

# %% [markdown]
# Which units carry the progenitor and lineage signatures the paper discusses:

# %%
dunits = ss.get.units(adata, key="dmap")
wanted = [
    "Megakaryocyte_erythroid_progenitor",
    "Granulocyte_monocyte_progenitor",
    "Erythroid",
    "Megakaryocyte",
]
for w in wanted:
    hit = dunits[(dunits["status"] == "carries a set") & dunits["gene_set"].str.contains(w)]
    where = (
        ", ".join(
            f"{r.unit} ({r.gene_set.removeprefix('DMAP_')}, z {r.zscore:.1f})"
            for r in hit.itertuples()
        )
        or "no unit"
    )
    print(f"{w}: {where}")

# %% [markdown]
# ## Figure 1e: progenitors against mature cells
# The paper compared common myeloid progenitors with a full background. The clusters here
# hold MEPs (7) and GMPs (9, 10) as progenitors; we compare them with the mature myeloid
# clusters (erythroid 1-6, megakaryocytes, DCs, basophils, monocytes, neutrophils,
# eosinophils), leaving out the 31 lymphoid cells. All cells come from one experiment, so cells
# are the replicates: the test names itself on the figure and overstates significance if
# the cells came from several mice.

# %%
stage = pd.Series(
    np.where(adata.obs["cell_type"].isin(["MEP", "GMP"]), "progenitor", "mature"),
    index=adata.obs_names,
)
adata.obs["stage"] = stage.where(adata.obs["cell_type"] != "lymphoid").astype("category")
ss.tl.geneset_impact(
    adata, dmap, groupby="stage", key_added="stage", random_state=0, progress=False
)
ss.pl.impact_diff(adata, "progenitor", "mature", key="stage", top=20, show=False)
plt.show()
d = ss.get.impact_diff(adata, "progenitor", "mature", key="stage")
best = d.loc[d.groupby("gene_set")["diff"].idxmax()].sort_values("diff", ascending=False)
best[["gene_set", "unit", "diff", "effect_size", "padj"]].head(8)

# %%
# %% [markdown]
# The largest differences are not all progenitor signatures: some lineage signatures that share
# genes with proliferating cells rise too. The paper's claim is about the units: do the units
# that carry progenitor and stem-cell signatures go up in progenitors? Each such unit's
# difference on its own set:

# %%
progenitor_words = ("progenitor", "stem_cell", "Colony_Forming")
dunits = ss.get.units(adata, key="dmap")
prog_units = dunits[
    (dunits["status"] == "carries a set")
    & dunits["gene_set"].str.contains("|".join(progenitor_words))
]
own = d.merge(prog_units[["unit", "gene_set"]], on=["unit", "gene_set"])
own = own[["unit", "gene_set", "diff", "effect_size", "padj"]].sort_values("diff", ascending=False)
n_up = int((own["diff"] > 0).sum())
print(
    f"{n_up} of {len(own)} units that carry a progenitor or stem-cell signature are higher in "
    "progenitors than in mature cells"
    + (", as the paper found for CMPs." if n_up > len(own) / 2 else "; the paper found them up.")
)
own
