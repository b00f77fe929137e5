# %% [markdown]
# # Hematopoiesis: DMAP signatures on mouse myeloid progenitors (Paul et al. 2015)
#
# The paper compared common myeloid progenitors (CMP) with a control population through DMAP
# hematopoietic signatures (Figure 1e). The local Paul15 file has 240 genes and seven cell
# types; its "Multipotent progenitors" are the closest to CMPs, so we compare them with the
# rest and with GMPs, using DMAP signatures and the mouse Hallmark sets.
#
# DMAP signatures are human (`ss.datasets.dmap_signatures`: per population, the genes most
# above the other populations' mean, log2 difference >= 1). They are matched to the mouse
# symbols case-insensitively: mouse `Gata1` matches human `GATA1`, which holds for most 1:1
# orthologs (genes whose symbols differ between species are missed).

# %%
import matplotlib.pyplot as plt

import scsaliency as ss

adata = ss.datasets.paul15()
adata.obs["cell_type"] = adata.obs["cell_type"].astype("category")
adata.obs["cell_type"].value_counts()

# %% [markdown]
# With only 240 genes, signatures of 200 genes per population give overlaps of 4 to 14 genes.

# %%
dmap = ss.genesets.as_dict("dmap", n_genes=200)
hallmark = ss.genesets.as_dict("hallmark", adata.var_names)  # mouse, told from the symbols
sets = {**dmap, **hallmark}
ss.tl.ortho_ae(adata, n_latent=32, random_state=0, progress=False)
ss.tl.saliency(adata, groupby="cell_type", progress=False)
ss.tl.geneset_impact(adata, sets, groupby="cell_type", min_size=4, progress=False)
e = adata.uns["geneset_impact"]
print(f"{len(e['impact'])} gene sets used of {len(sets)}")
ss.pl.impact_heatmap(adata, show=False)
plt.show()

# %% [markdown]
# ## Progenitors against the rest, and against GMPs

# %%
ss.pl.impact_diff(adata, "Multipotent progenitors", groupby="cell_type", show=False)
plt.show()
d = ss.get.impact_diff(adata, "Multipotent progenitors", "GMP")
best = d.loc[d.groupby("gene_set")["diff"].idxmax()].sort_values("diff", ascending=False)
best[["gene_set", "unit", "diff", "scaled_diff", "padj"]].head(10)

# %% [markdown]
# ## Which DMAP signature does each cell type raise most?
# Among the DMAP signatures only, each type against the rest, ranked by the best unit's
# difference. Erythrocytes pick the erythroid signatures and neutrophils and monocytes the
# granulocyte/monocyte colony-forming units; megakaryocytes and multipotent progenitors do not
# map cleanly: the megakaryocyte signature keeps too few of the 240 genes to be used, and
# progenitor signatures share most of their genes with lineage ones at this gene count.

# %%
import pandas as pd  # noqa: E402

rows = []
for ctype in adata.obs["cell_type"].cat.categories:
    d = ss.get.impact_diff(adata, ctype)
    d = d[d.gene_set.str.startswith("DMAP_")]
    best = d.groupby("gene_set")["diff"].max().sort_values(ascending=False)
    rows.append((ctype, *best.index[:3]))
table = pd.DataFrame(rows, columns=["cell type", "1st", "2nd", "3rd"]).set_index("cell type")
assert table.loc["Erythrocyte", "1st"].startswith("DMAP_Erythroid")
table
