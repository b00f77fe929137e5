"""Would R repeated runs (tl.stability) cost less trained as one batched network? (issue 28)

One training step (forward, Poisson loss, backward, Adam) of the model's shape at PBMC 3k's size
(3,208 genes -> 128 hidden -> 64 units -> additive decoder, minibatch 128 cells), for R runs:
- one by one: R separate networks, R steps;
- batched:    the R networks' weights stacked, one step of batched matrix products (torch.bmm)
              on R different minibatches, one Adam over the stacked weights.
Both do the same arithmetic; the batched step only saves per-step overhead and can fill a wide
device. Prints milliseconds per R steps (median of 5 repeats of 30 steps) and the ratio.
On CUDA, also with each step recorded as a CUDA graph and replayed (one launch per step), as
the training loop does there (nn/step.py): the fair comparison on a GPU.
Run: python benchmarks/batched_runs.py [--device cuda] [--runs 5]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

GENES, HIDDEN, UNITS, CELLS = 3208, 128, 64, 128


def weights(runs: int, gen: torch.Generator, device: str) -> list[torch.Tensor]:
    """Stacked encoder, unit and program weights of ``runs`` networks."""
    shapes = [(GENES, HIDDEN), (HIDDEN, UNITS), (UNITS, GENES)]
    out = []
    for rows, cols in shapes:
        w = torch.randn(runs, rows, cols, generator=gen) / rows**0.5
        out.append(w.abs().to(device).requires_grad_(True))
    return out


def loss_of(x: torch.Tensor, w1, w2, p) -> torch.Tensor:
    """Poisson NLL (without log k!) of counts ``x`` under the additive decoder, summed."""
    h = nn.functional.softplus(torch.bmm(torch.log1p(x), w1))
    z = nn.functional.softplus(torch.bmm(h, w2))
    rate = torch.bmm(z, p.abs()) + 1e-3
    return (rate - x * torch.log(rate)).sum()


def timed(step, repeats: int = 5, steps: int = 30) -> float:
    """Median milliseconds of one call of ``step``."""
    for _ in range(5):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) / steps * 1000)
    return sorted(times)[len(times) // 2]


def as_graph(step) -> callable:
    """``step`` (zero_grad, forward, backward, Adam) recorded as a CUDA graph: one launch per call.

    As the training loop does on CUDA (:class:`scsaliency.nn.step.GraphStep`): warm-up on a side
    stream, gradients set to None before recording, the recorded step replayed.
    """
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step(zero=False)
    return graph.replay


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    runs, dev = args.runs, args.device
    cuda = dev.startswith("cuda")
    x = torch.poisson(torch.rand(runs, CELLS, GENES, generator=gen) * 2).to(dev)

    batched = weights(runs, gen, dev)
    single = [
        [w[r : r + 1].detach().clone().requires_grad_(True) for w in batched] for r in range(runs)
    ]
    opt_b = torch.optim.Adam(batched, lr=1e-3, capturable=cuda)
    opts = [torch.optim.Adam(ws, lr=1e-3, capturable=cuda) for ws in single]

    def step_batched(zero: bool = True):
        if zero:
            opt_b.zero_grad(set_to_none=True)
        loss_of(x, *batched).backward()
        opt_b.step()

    def step_run(r: int, zero: bool = True):
        if zero:
            opts[r].zero_grad(set_to_none=True)
        loss_of(x[r : r + 1], *single[r]).backward()
        opts[r].step()

    def step_one_by_one():
        for r in range(runs):
            step_run(r)

    rows = [("eager", timed(step_one_by_one), timed(step_batched))]
    if cuda:  # as training runs on CUDA: each step replayed as one recorded graph
        for opt in (opt_b, *opts):
            opt.zero_grad(set_to_none=True)
        replays = [as_graph(lambda zero=True, r=r: step_run(r, zero)) for r in range(runs)]
        replay_b = as_graph(step_batched)

        def replay_one_by_one():
            for replay in replays:
                replay()

        rows.append(("CUDA graph", timed(replay_one_by_one), timed(replay_b)))
    print(f"# device {dev}, torch threads {torch.get_num_threads()}, R = {runs}")
    print("| R runs | step | one by one (ms) | batched (ms) | one by one / batched |")
    print("|---:|---|---:|---:|---:|")
    for kind, t_one, t_batched in rows:
        print(f"| {runs} | {kind} | {t_one:.2f} | {t_batched:.2f} | {t_one / t_batched:.2f} |")


if __name__ == "__main__":
    main()
