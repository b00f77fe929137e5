"""PBMC 3k end to end: today's defaults against the configuration of the first measurement.

With a row for the full Paul15 data (all genes, its 19 clusters as groups; issue 26).

Issue 9's speed target is "PBMC 3k end to end no slower than today (12.9 s)", where 12.9 s was
the paper's decoder with guided x input saliency (the defaults of 2026-11-23) on a faster day of
this machine, whose speed drifts by up to 1.7x. This script times both configurations in the
same session, alternating, each run in a fresh process (so each pays torch's one-off imports):
training, saliency with ``groupby="cell_type"``, Hallmark impact with ``groupby``. On the
Hallmark genes, as ``scale.pbmc_end_to_end``.
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/end_to_end.py [--rounds 2]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CONFIGS = {
    "defaults": dict(train={}, method="gradient_x_centered"),
    "first measurement (mlp decoder, guided x input)": dict(
        train=dict(decoder="mlp"), method="guided_x_input"
    ),
    # issue 26: the full Paul15 data, all 3,451 genes, its 19 clusters as groups
    "Paul15, defaults": dict(train={}, method="gradient_x_centered", data="paul15"),
}


def one(name: str) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import pbmc_hallmark

    import scsaliency as ss

    cfg = CONFIGS[name]
    paul = cfg.get("data") == "paul15"
    adata = ss.datasets.paul15() if paul else pbmc_hallmark()
    groupby = "paul15_clusters" if paul else "cell_type"
    t0 = time.perf_counter()
    ss.tl.ortho_ae(adata, progress=False, **cfg["train"])
    t1 = time.perf_counter()
    ss.tl.saliency(adata, groupby=groupby, method=cfg["method"], progress=False)
    t2 = time.perf_counter()
    ss.tl.geneset_impact(adata, "hallmark", groupby=groupby, progress=False)
    t3 = time.perf_counter()
    return {
        "total": t3 - t0,
        "train": t1 - t0,
        "epochs": int(adata.uns["ortho_ae"]["params"]["n_epochs"]),
        "saliency": t2 - t1,
        "impact": t3 - t2,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--one", default=None)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    print("| round | configuration | end to end s | training s (epochs) | saliency s | impact s |")
    print("|---:|---|---:|---:|---:|---:|")
    totals: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for r in range(args.rounds):
        for name in CONFIGS:
            out = subprocess.run(
                [sys.executable, __file__, "--one", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            res = json.loads(out.strip().splitlines()[-1])
            totals[name].append(res["total"])
            print(
                f"| {r + 1} | {name} | {res['total']:.1f} | {res['train']:.1f} ({res['epochs']}) | "
                f"{res['saliency']:.1f} | {res['impact']:.1f} |",
                flush=True,
            )
    for name, t in totals.items():
        print(f"# {name}: median {np.median(t):.1f} s over {len(t)} runs")


if __name__ == "__main__":
    main()
