"""Where a GPU epoch goes: seconds per epoch by data placement and step, and the profiler's view.

Needs a CUDA device. Synthetic CSR counts as in ``scale.py`` (3,000 genes, about 5 % non-zero).
Each variant runs in its own process and trains 3 epochs; "s / epoch" is the mean of epochs 2
and 3 (the first includes CUDA's start-up). Variants:

* ``stream, eager``: a minibatch copied from the host every step, every kernel launched from
  Python (what the package did before its device copy and CUDA graphs);
* ``csr`` / ``dense``: the used genes kept on the device (:meth:`CellMatrix.place`);
* ``graph``: the training step replayed as a CUDA graph (:mod:`scsaliency.nn.step`).

``--old PATH`` also times a checkout of an earlier package (``PATH/scsaliency``).
Then the profiler's top operations for one epoch of the first and the last variant, and
saliency and impact seconds by cells per chunk.
Run: python benchmarks/cuda_profile.py [--cells 200000] [--old .old]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = {
    "stream, eager": dict(layout="stream", graphs=False),
    "stream, graph": dict(layout="stream", graphs=True),
    "csr, eager": dict(layout="csr", graphs=False),
    "csr, graph": dict(layout="csr", graphs=True),
    "dense, graph": dict(layout="dense", graphs=True),
}


def _configure(layout: str, graphs: bool) -> None:
    from scsaliency.nn import step as _step
    from scsaliency.nn import tensors as _data

    _step.CUDA_GRAPHS = graphs
    if layout == "stream":
        _data.DEVICE_DENSE_SHARE = _data.DEVICE_CSR_SHARE = 0.0
    elif layout == "csr":
        _data.DEVICE_DENSE_SHARE = 0.0


def one(cells: int, layout: str | None, graphs: bool, profile: bool) -> dict:
    import numpy as np

    sys.path.insert(0, str(HERE))
    from scale import sparse_counts

    import scsaliency as ss

    if layout is not None:
        _configure(layout, graphs)
    adata = sparse_counts(cells)
    ss.tl.ortho_ae(adata, max_epochs=3, patience=100, progress=False)
    epoch = float(np.mean(adata.uns["ortho_ae"]["history"]["seconds"][1:]))
    out = {"s_per_epoch": epoch}
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as prof

        with prof(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
            ss.tl.ortho_ae(adata, max_epochs=1, patience=100, progress=False)
        avg = p.key_averages()
        out["by_cpu"] = avg.table(sort_by="self_cpu_time_total", row_limit=12)
        out["by_cuda"] = avg.table(sort_by="self_device_time_total", row_limit=12)
    return out


def saliency_chunks(cells: int, sizes: list[int]) -> list[tuple[int, float, float]]:
    import numpy as np

    sys.path.insert(0, str(HERE))
    from scale import sparse_counts

    import scsaliency as ss

    adata = sparse_counts(cells)
    ss.tl.ortho_ae(adata, max_epochs=1, patience=100, progress=False)
    rng = np.random.default_rng(0)
    sets = {f"set{i}": list(rng.choice(adata.var_names, 50, replace=False)) for i in range(50)}
    rows = []
    for size in sizes:
        t = time.perf_counter()
        ss.tl.saliency(adata, batch_size=size, progress=False)
        t_sal = time.perf_counter() - t
        t = time.perf_counter()
        ss.tl.geneset_impact(adata, sets, groupby="group", batch_size=size, progress=False)
        rows.append((size, t_sal, time.perf_counter() - t))
    return rows


def _child(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(r: dict) -> str:
    return f"{r['s_per_epoch']:.2f}" if "s_per_epoch" in r else r["error"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=200_000)
    p.add_argument("--profile-cells", type=int, default=50_000)
    p.add_argument("--old", default=None, help="folder holding an earlier scsaliency package")
    p.add_argument("--chunks", type=int, nargs="*", default=[128, 512, 2048])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), help="names from VARIANTS")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--child", default=None)
    args = p.parse_args()
    if args.child:
        spec = json.loads(args.child)
        if spec.get("chunks"):
            print(json.dumps(saliency_chunks(spec["cells"], spec["chunks"])))
        else:
            print(json.dumps(one(spec["cells"], spec["layout"], spec["graphs"], spec["profile"])))
        return
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    print(f"# {device}, torch {torch.__version__}, {args.cells:,} cells")
    print("| variant | s / epoch |")
    print("|---|---:|")
    runs = [(name, VARIANTS[name]) for name in args.variants]
    if args.old:
        path = os.pathsep.join([str(Path(args.old).resolve()), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path}
        spec = {"cells": args.cells, "layout": None, "graphs": False, "profile": False}
        r = _child(["--child", json.dumps(spec)], env)
        print(f"| earlier package ({args.old}) | {_fmt(r)} |")
    for name, v in runs:
        spec = {"cells": args.cells, **v, "profile": False}
        r = _child(["--child", json.dumps(spec)])
        print(f"| {name} | {_fmt(r)} |", flush=True)
    for name in [] if args.no_profile else (runs[0][0], runs[-2][0]):
        spec = {"cells": args.profile_cells, **VARIANTS[name], "profile": True}
        r = _child(["--child", json.dumps(spec)])
        print(f"\n## profiler, {name}, {args.profile_cells:,} cells, one epoch")
        print(r.get("by_cpu", r.get("error")))
        print(r.get("by_cuda", ""))
    if args.chunks:
        r = _child(["--child", json.dumps({"cells": args.cells, "chunks": args.chunks})])
        print("\n| cells per chunk | saliency s | impact s |\n|---:|---:|---:|")
        for size, t_sal, t_imp in r if isinstance(r, list) else []:
            print(f"| {size} | {t_sal:.2f} | {t_imp:.2f} |")
        if isinstance(r, dict):
            print(r)


if __name__ == "__main__":
    main()
