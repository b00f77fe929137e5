"""How many runs an answer needs before the gene sets it finds stop depending on the seed.

Issue 28 asks for two answers with disjoint seeds that carry the same gene sets (carried-set
Jaccard at least 0.85 on PBMC 3k, 0.8 on Paul15 and Kang 2018) at most twice a single run's
cost. This benchmark measures what that asks of the model: it trains ``--runs`` single runs per
data set (`tl.ortho_ae` defaults, labelled as `benchmarks/stability.py` labels a single run) and
counts, per gene set, the share of runs in which some unit carries it (its carry rate, what
`get.geneset_stability` reports for the runs of `tl.stability`).

An answer of R runs that reports the sets carried in more than half of them (the sets
`pl.impact_heatmap` does not grey) or in at least two thirds is then measured on disjoint
splits of the runs (R = 6, as `tl.stability(n_runs=5)` gives), and extrapolated to more runs by
treating each set's runs as coin flips with its measured carry rate: a set is in an answer with
probability P = P(Binomial(R, rate) >= k), two answers share it with P^2, and the expected
Jaccard is sum(P^2) / sum(2P - P^2) (a plug-in estimate; the rates are estimated from the same
runs). The last column is the fewest runs per answer, on the grid, at which the estimate
reaches 0.8. The first table also reads the shares as a graded answer: their Pearson
correlation between two disjoint answers of 6 runs over the sets ever carried, and the share of
sets whose shares differ by 1/2 or more (8 splits).

A graded reading that does not ask which set wins each unit: per run, each set's largest
z-score over units; an answer of R runs reports the sets whose median over its runs is at least
t (``median_zscore`` of `get.geneset_stability`), measured on the same disjoint splits for
R = 3 and 6 and t = 4, 5, 6.

With ``--direct R``, the estimate is checked on the tool itself: two answers with disjoint
seeds, each a model and ``tl.stability(gene_sets, n_runs=R - 1)``, and the Jaccard of the sets
that `get.geneset_stability` gives a share of runs above 1/2 (the ones the plots do not grey),
and of those it gives a ``median_zscore`` of at least 5.

Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/runs_needed.py [--quick: PBMC 3k
only] [--runs N: single runs per data set, default 16] [--direct R] [--data NAME,NAME: only
these data sets, e.g. "Paul15,Kang 2018"] [--pair P: the P-th pair of seeds for --direct,
default 0]
"""

from __future__ import annotations

import sys
import time
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import binom
from stability import datasets, single

import scsaliency as ss


def _option(name: str, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


RUNS = int(_option("--runs", 16))
DIRECT = int(_option("--direct", 0))
ONLY = _option("--data")
PAIR = int(_option("--pair", 0))  # which pair of disjoint seeds --direct uses
GRID = (6, 12, 18, 24, 36, 48)  # runs per answer for the plug-in estimate
SHARES = {"> 1/2": lambda r: r // 2 + 1, ">= 2/3": lambda r: int(np.ceil(2 * r / 3))}
N_SPLITS = 8  # random disjoint pairs of answers of 6 runs
MEDIAN_Z = (4.0, 5.0, 6.0)  # cuts on the median over runs of a set's largest z-score


def carry_counts(carried: list[set[str]]) -> dict[str, int]:
    """Per gene set ever carried (sorted): in how many of these runs some unit carries it."""
    return {s: sum(s in c for c in carried) for s in sorted(set().union(*carried))}


def carry_rates(carried: list[set[str]]) -> dict[str, float]:
    """Per gene set ever carried: the share of runs in which some unit carries it."""
    return {s: c / len(carried) for s, c in carry_counts(carried).items()}


def voted(carried: list[set[str]], k: int) -> set[str]:
    """The sets carried in at least ``k`` of these runs."""
    return {s for s, c in carry_counts(carried).items() if c >= k}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else np.nan


def halves(carried: list, n: int, seed: int = 0):
    """:data:`N_SPLITS` random pairs of disjoint answers of ``n`` runs each."""
    rng = np.random.default_rng(seed)
    for _ in range(N_SPLITS):
        p = rng.permutation(len(carried))
        yield [carried[i] for i in p[:n]], [carried[i] for i in p[n : 2 * n]]


def split_jaccard(runs: list, n: int, answer) -> tuple[float, float]:
    """Mean Jaccard (and sets per answer) of two disjoint answers of ``n`` runs each, an
    answer being ``answer(its runs)``, a set of gene sets."""
    jac, sets = [], []
    for one, other in halves(runs, n):
        a, b = answer(one), answer(other)
        jac.append(jaccard(a, b))
        sets.append((len(a) + len(b)) / 2)
    return float(np.mean(jac)), float(np.mean(sets))


def measured(carried: list[set[str]], n: int, k: int) -> tuple[float, float]:
    """:func:`split_jaccard` of answers reporting the sets carried in at least ``k`` runs."""
    return split_jaccard(carried, n, lambda runs: voted(runs, k))


def share_agreement(carried: list[set[str]], n: int) -> tuple[float, float]:
    """Each set's share of runs in two disjoint answers of ``n`` runs: their Pearson correlation
    over the sets ever carried, and the share of sets whose shares differ by 1/2 or more."""
    names = sorted(set().union(*carried))
    r, far = [], []
    for one, other in halves(carried, n):
        a, b = (np.array([carry_rates(h).get(s, 0.0) for s in names]) for h in (one, other))
        r.append(np.corrcoef(a, b)[0, 1])
        far.append(np.mean(np.abs(a - b) >= 0.5))
    return float(np.mean(r)), float(np.mean(far))


def by_median_z(best: list[pd.Series], n: int, t: float) -> tuple[float, float]:
    """:func:`split_jaccard` of answers reporting the sets whose median over the answer's runs
    of the largest z-score over units is at least ``t``."""

    def answer(runs: list[pd.Series]) -> set[str]:
        median = pd.concat(runs, axis=1).median(axis=1)
        return set(median.index[median >= t])

    return split_jaccard(best, n, answer)


def plug_in(rates: np.ndarray, n: int, k: int) -> tuple[float, float]:
    """Expected Jaccard (ratio of expectations) and sets of answers of ``n`` runs."""
    p = binom.sf(k - 1, n, rates)
    return float((p**2).sum() / (2 * p - p**2).sum()), float(p.sum())


def direct(adata, sets, n_runs: int) -> tuple[float, int, int, float, float, int, int]:
    """Two answers of ``n_runs`` runs (a model and tl.stability): Jaccard of their sets with
    a share of runs above 1/2, the two set counts, seconds per answer, and the same Jaccard
    and counts for the sets with ``median_zscore`` of at least 5."""
    found, strong, seconds = [], [], []
    for model_seed, seed in ((1000 + PAIR, 2 * PAIR), (2000 + PAIR, 2 * PAIR + 1)):
        a = adata.copy()
        t = time.perf_counter()
        ss.tl.ortho_ae(a, random_state=model_seed, progress=False)
        ss.tl.stability(a, sets, n_runs=n_runs - 1, random_state=seed, progress=False)
        seconds.append(time.perf_counter() - t)
        table = ss.get.geneset_stability(a)
        found.append(set(table.loc[table["runs"] > 0.5, "gene_set"]))
        strong.append(set(table.loc[table["median_zscore"] >= 5, "gene_set"]))
    return (
        jaccard(*found),
        len(found[0]),
        len(found[1]),
        float(np.mean(seconds)),
        jaccard(*strong),
        len(strong[0]),
        len(strong[1]),
    )


def rates_rows(name, adata, sets) -> tuple[str, list[str]]:
    """The single runs' row of the first table and the data set's rows of the second."""
    carried, seconds, best = [], [], []
    for seed in range(RUNS):
        a, _, labels, s = single(adata, sets, seed)
        carried.append(set().union(*labels.values()))
        seconds.append(s)
        best.append(a.uns["geneset_impact"]["zscore"].max(axis=1))  # NaN-skipping, per set
    rates = np.asarray(list(carry_rates(carried).values()))
    pairs = [jaccard(a, b) for a, b in combinations(carried, 2)]
    agree = "- | -"
    if RUNS >= 12:
        r, far = share_agreement(carried, 6)
        agree = f"{r:.2f} | {far:.2f}"
    row = (
        f"| {name} | {RUNS} | {np.mean([len(c) for c in carried]):.1f} | {len(rates)} | "
        f"{(rates >= 0.8).sum()} | {((rates > 0.2) & (rates < 0.8)).sum()} | "
        f"{(rates <= 0.2).sum()} | {np.mean(pairs):.2f} | {agree} | {np.mean(seconds):.1f} |"
    )
    votes = []
    for share, k_of in SHARES.items():
        cells = ["-"]
        if RUNS >= 12:
            jac, n_sets = measured(carried, 6, k_of(6))
            cells = [f"{jac:.2f} ({n_sets:.1f})"]
        estimates = [plug_in(rates, n, k_of(n)) for n in GRID]
        cells += [f"{j:.2f} ({s:.1f})" for j, s in estimates]
        enough = [n for n, (j, _) in zip(GRID, estimates, strict=True) if j >= 0.8]
        cells.append(str(enough[0]) if enough else f"> {GRID[-1]}")
        votes.append(f"| {name} | {share} | " + " | ".join(cells) + " |")
    graded = []
    for n in (3, 6) if RUNS >= 12 else ():
        cells = [by_median_z(best, n, t) for t in MEDIAN_Z]
        graded.append(
            f"| {name} | {n} | " + " | ".join(f"{j:.2f} ({k:.1f})" for j, k in cells) + " |"
        )
    return row, votes, graded


def main():
    rows, votes, graded, checks = [], [], [], []
    for name, adata, sets in datasets():
        if name.startswith("synthetic") or (ONLY and name not in ONLY.split(",")):
            continue
        if RUNS >= 2:
            row, rows_of_votes, rows_of_z = rates_rows(name, adata, sets)
            rows.append(row)
            votes += rows_of_votes
            graded += rows_of_z
            print(f"{name}: {RUNS} runs done", file=sys.stderr, flush=True)
        if DIRECT:
            jac, na, nb, sec, jz, za, zb = direct(adata, sets, DIRECT)
            checks.append(
                f"| {name} | {DIRECT} | {jac:.2f} | {na} / {nb} | {jz:.2f} | {za} / {zb} | "
                f"{sec:.0f} |"
            )
            print(f"{name}: direct check done", file=sys.stderr, flush=True)
    if rows:
        print(
            "| data | runs | sets per run | sets ever carried | in >= 80 % of runs | 20-80 % | "
            "<= 20 % | single-run Jaccard | shares r, 6 runs | differ by >= 1/2 | s per run |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
        print()
        head = " | ".join(f"{n} runs (plug-in)" for n in GRID)
        print(f"| data | carried in | 6 runs (measured) | {head} | runs for 0.8 |")
        print("|---|---|" + "---:|" * (len(GRID) + 2))
        print("\n".join(votes))
    if graded:
        print()
        head = " | ".join(f"median z >= {t:g}" for t in MEDIAN_Z)
        print(f"| data | runs per answer | {head} |")
        print("|---|---:|" + "---:|" * len(MEDIAN_Z))
        print("\n".join(graded))
    if checks:
        print()
        print(
            "| data | runs per answer | Jaccard, runs > 1/2 | sets | Jaccard, median z >= 5 | "
            "sets | s per answer |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        print("\n".join(checks))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n{time.perf_counter() - t0:.0f} s", file=sys.stderr)
