"""Which saliency method ranks cell-type marker sets right on PBMC 3k (issue 3).

Genes: Hallmark union + seven PBMC marker sets, detected in >= 3 cells; 2,638 labelled cells.
For each of the seven types against the rest, marker sets are ranked by their best unit's
difference in impact (get.impact_diff); a hit is the type's own set ranked first.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/saliency_pbmc3k.py
"""

import numpy as np
from _common import pbmc_hallmark

import scsaliency as ss
from scsaliency.datasets import PBMC_MARKER_LABELS


def marker_ranks(adata, markers):
    ranks = {}
    for ctype in PBMC_MARKER_LABELS:
        d = ss.get.impact_diff(adata, ctype)
        d = d[d.gene_set.isin(markers)]
        best = d.groupby("gene_set")["diff"].max().sort_values(ascending=False)
        ranks[ctype] = list(best.index).index(f"MARKERS_{ctype}") + 1
    return ranks


def main(seeds=(0, 1, 2)):
    markers = ss.datasets.pbmc_markers()
    adata = pbmc_hallmark(extra_genes=[g for s in markers.values() for g in s])
    to_major = {lab: k for k, labs in PBMC_MARKER_LABELS.items() for lab in labs}
    adata.obs["major"] = adata.obs["cell_type"].map(to_major).astype("category")
    sets = {**ss.genesets.as_dict("hallmark", adata.var_names), **markers}
    print(
        f"# {adata.n_obs} cells x {adata.n_vars} genes; hits = own marker set ranked first "
        f"of 7 (rank per type in brackets)"
    )
    totals = {}
    for seed in seeds:
        ss.tl.ortho_ae(adata, random_state=seed, progress=False)
        for method in ("guided_x_input", "guided", "gradient", "gradient_x_centered"):
            ss.tl.saliency(adata, method=method, progress=False)
            ss.tl.geneset_impact(adata, sets, groupby="major", n_null=0, progress=False)
            ranks = marker_ranks(adata, markers)
            hits = sum(r == 1 for r in ranks.values())
            totals.setdefault(method, []).append(hits)
            detail = ", ".join(f"{k} {v}" for k, v in ranks.items())
            print(f"seed {seed} {method:>15}: {hits}/7  [{detail}]", flush=True)
    for method, hits in totals.items():
        print(f"{method:>15}: mean {np.mean(hits):.2f}/7 over {len(seeds)} training seeds")


if __name__ == "__main__":
    main()
