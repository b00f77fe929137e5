"""Label rules for the consensus model's units, measured by how well two answers' labels agree.

Three answers on PBMC 3k (Hallmark + 7 marker sets; ``random_state`` 0, 1, 2), each the
consensus model of ``tl.ortho_ae(n_runs=6)``. Its six runs are trained here as single models
(the same seeds and code path, so the consensus model is the package's, bit for bit) and each
is explained like any model (``tl.saliency`` + ``tl.geneset_impact``). The consensus units are
then labelled three ways:

* **own saliency** (what the package does today): the consensus model's own saliency maps,
  the one test that labels any model;
* **member vote**: a set labels a unit when, in at least half of the runs that have a program
  in the unit's cluster, that program carries it (its set and near-ties, as a single run's
  units are labelled);
* **member median z**: the median z-score over the cluster's programs; the best set when at
  least 3, with the sets within 0.8 of it.

Printed per rule, over the three pairs of answers: kept (labels on matched programs that the
other answer's program carries, both ways), the Jaccard of the sets carried anywhere, and the
marker sets every answer carries (as ``benchmarks/stability.py`` compares answers).
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/consensus_labels.py (about 5 minutes)
"""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
import stability as B

import scsaliency as ss
from scsaliency._core.consensus import cluster_programs
from scsaliency._core.matching import unit_rows
from scsaliency.tl import _ortho_ae

SEEDS = (0, 1, 2)
N_RUNS = 6


def explained_run(adata, sets, seed: int) -> dict:
    """One run as a single model: its program tuple (as the consensus code reads it) and labels."""
    run = adata.copy()
    ss.tl.ortho_ae(run, random_state=seed, progress=False)
    module = ss.get.model(run)
    programs = (
        module.decoder.P.detach().abs().double().numpy(),
        module.decoder.gene_scale.detach().double().numpy(),
        module.unit_scale.detach().double().numpy(),
    )
    ss.tl.saliency(run, progress=False)
    ss.tl.geneset_impact(run, sets, progress=False)
    e = run.uns["geneset_impact"]
    units = e["units"]
    carried = {
        int(u): set(str(s).split(" / "))
        for u, s, status in zip(units.index, units["gene_sets"], units["status"], strict=True)
        if status == "carries a set"
    }
    return {"programs": programs, "carried": carried, "z": e["zscore"].to_numpy()}


def member_labels(runs: list[dict], members: list, names: list[str]) -> tuple[dict, dict]:
    """Per consensus unit: the sets of the member vote and of the member median z-score."""
    vote, median = {}, {}
    for c, pairs in enumerate(members):
        per_run: dict[int, set[str]] = {}
        for r, u in pairs:
            per_run.setdefault(r, set()).update(runs[r]["carried"].get(u, set()))
        counts: dict[str, int] = {}
        for carried in per_run.values():
            for s in carried:
                counts[s] = counts.get(s, 0) + 1
        chosen = {s for s, k in counts.items() if k >= len(per_run) / 2}
        if chosen:
            vote[c] = chosen
        z = np.nanmedian(np.stack([runs[r]["z"][:, u] for r, u in pairs]), axis=0)
        order = np.argsort(-np.nan_to_num(z, nan=-np.inf))
        best = z[order[0]]
        if np.isfinite(best) and best >= 3:
            median[c] = {names[i] for i in order[:3] if np.isfinite(z[i]) and z[i] >= 0.8 * best}
    return vote, median


def main():
    warnings.filterwarnings("ignore")
    _, adata, sets = next(B.datasets())
    cache: dict[int, dict] = {}
    # the consensus model reads the runs trained here (the same seeds and code path)
    _ortho_ae._train_runs = lambda fit, seeds, n_latent, progress: [
        cache[s]["programs"] for s in seeds
    ]
    answers = []
    for seed in SEEDS:
        tic = time.perf_counter()
        seeds = [int(s) for s in np.random.default_rng(seed).integers(0, 2**31 - 1, N_RUNS)]
        runs = []
        for s in seeds:
            cache[s] = explained_run(adata, sets, s)
            runs.append(cache[s])
        a, programs, own, _ = B.single(adata, sets, seed, N_RUNS)
        vectors = [
            unit_rows(np.sqrt(fold * scale)) for fold, scale, _ in (r["programs"] for r in runs)
        ]
        found = cluster_programs(vectors, _ortho_ae.CONSENSUS_COSINE, _ortho_ae.MIN_SHARE)
        assert len(found.members) == len(programs), "clusters differ from the model's units"
        names = list(a.uns["geneset_impact"]["zscore"].index)
        vote, median = member_labels(runs, found.members, names)
        answers.append((programs, own, vote, median))
        print(
            f"# seed {seed}: {len(programs)} units, {time.perf_counter() - tic:.0f} s", flush=True
        )
    markers = list(ss.datasets.pbmc_markers())
    print("| rule | kept (pairs) | Jaccard (pairs) | median kept | median Jaccard | markers |")
    print("|---|---|---|---:|---:|---:|")
    for label, i in (("own saliency (built)", 1), ("member vote", 2), ("member median z", 3)):
        pairs = np.array(
            [B.compare(x[0], x[i], y[0], y[i])[:4] for x, y in itertools.combinations(answers, 2)],
            dtype=float,
        )
        found_markers = min(
            sum(m in set().union(*ans[i].values()) for m in markers) for ans in answers
        )
        print(
            f"| {label} | {' / '.join(f'{v:.2f}' for v in pairs[:, 2])} "
            f"| {' / '.join(f'{v:.2f}' for v in pairs[:, 3])} | {np.median(pairs[:, 2]):.2f} "
            f"| {np.median(pairs[:, 3]):.2f} | {found_markers}/7 |"
        )


if __name__ == "__main__":
    main()
