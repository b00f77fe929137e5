"""Programs that reproduce (issue 28): two independent answers per method, side by side.

For each data set, each method is run twice with disjoint seeds (answers A and B), and the two
answers are compared:
- activity r: the median correlation over cells of matched units' activities (ours);
- cos med / >0.8: programs matched one to one (Hungarian on the cosine of the square root of
  expected counts, L2-normalised; NMF: its components); median matched cosine, share above 0.8;
- kept:   share of the sets that labelled programs carry whose matched program carries the
  same set (both ways; a consensus program may carry several sets);
- Jaccard: of the sets carried anywhere in A and in B; sets: how many (A / B);
- markers: marker sets owning a unit, the fewest over 5 single runs, or carried by a consensus
  program, the fewer of the two answers (PBMC 3k only);
- s:      seconds for one answer.
Methods:
- single run: tl.ortho_ae(n_runs=1), labels from tl.geneset_impact (seeds 0 and 1);
- consensus model: tl.ortho_ae(n_runs=6) (its runs' seeds drawn from random_state 0 and 1:
  disjoint), labelled like any model: each unit's carried set and its near-ties (gene_sets);
- NMF(64): scikit-learn on log-normalised counts, random initialisation; labels: each
  component's loadings tested as a saliency map is (tl.geneset_impact, best set per component);
- cNMF(64): the `cnmf` package (Kotliar et al. 2019) with CNMF_ITER NMF runs per answer, its
  consensus spectra (TPM) as programs, labelled as NMF's from its gene spectra scores (what cNMF
  offers for gene-set enrichment); skipped with a message when not installed;
- DRVI (drvi-py, when installed; DRVI_LATENT latents, DRVI_EPOCHS epochs, programs only): its
  latents are not additive, so a program is what DRVI itself reports for a latent direction, its
  out-of-distribution combined effect score per gene (model.calculate_interpretability_scores),
  for each direction (positive, negative) that did not vanish.
Data: PBMC 3k (2,638 labelled cells; Hallmark + 7 marker sets), Paul15 (2,730 cells; mouse
Hallmark), Kang 2018 (1,556 cells; Hallmark), and the two synthetic configurations of
benchmarks/modules.py (planted programs and decoys as gene sets).
Run: SCSALIENCY_DATA_DIR=../shared/data python benchmarks/stability.py [--quick: PBMC 3k only]
[--peers-only: only NMF, cNMF and DRVI, e.g. in the peers' environment]
[--without nmf / cnmf / drvi: leave a peer out, e.g. when its figures are known]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from _common import pbmc_hallmark, quiet
from modules import COMMON, CONFIGS, lognorm

import scsaliency as ss
from scsaliency._core.matching import matched_cosines, unit_rows
from scsaliency._stored import StoredModel, program_vectors

warnings.filterwarnings("ignore")
QUICK = "--quick" in sys.argv
PEERS_ONLY = "--peers-only" in sys.argv
DRVI_LATENT, DRVI_EPOCHS = 32, 200  # as benchmarks/batch.py (its tutorials train 400 epochs)
N_RUNS = 6  # tl.ortho_ae's runs for the consensus model (the command line's default)
CNMF_ITER = 10  # cNMF's NMF runs per answer (its tutorial uses 100; 10 keeps this benchmark short)


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


WITHOUT = {sys.argv[i + 1] for i, arg in enumerate(sys.argv[:-1]) if arg == "--without"}
HAVE = {m: _installed(m) and m not in WITHOUT for m in ("cnmf", "drvi")}


def datasets():
    markers = ss.datasets.pbmc_markers()
    pbmc = pbmc_hallmark(extra_genes=[g for s in markers.values() for g in s])
    yield "PBMC 3k", pbmc, {**ss.genesets.as_dict("hallmark", pbmc.var_names), **markers}
    if QUICK:
        return
    for name, load in (("Paul15", ss.datasets.paul15), ("Kang 2018", ss.datasets.kang18)):
        a = load()
        sets = ss.genesets.as_dict("hallmark", a.var_names)
        genes = {g.upper() for s in sets.values() for g in s}
        detected = np.asarray((a.X > 0).sum(0)).ravel() >= 3
        a = a[:, detected & a.var_names.str.upper().isin(genes)].copy()
        yield name, a, sets
    for name, cfg in CONFIGS.items():
        a = ss.datasets.synthetic(**COMMON, **cfg, random_state=0)
        yield f"synthetic {name}", a, a.uns["synthetic"]["gene_sets"]


def single(adata, sets, seed, n_runs=1):
    """One answer of ours: the model (n_runs=1: a single run; more: the consensus model)."""
    a = adata.copy()
    t = time.perf_counter()
    ss.tl.ortho_ae(a, n_runs=n_runs, random_state=seed, progress=False)
    ss.tl.saliency(a, progress=False)
    ss.tl.geneset_impact(a, sets, progress=False)
    labels = _carried(ss.get.units(a))
    return a, program_vectors(StoredModel.load(a).entry), labels, time.perf_counter() - t


def _carried(units) -> dict[int, set[str]]:
    """Program -> the sets it carries, from a units table: its set and near-ties (gene_sets)."""
    carried = units[units.status == "carries a set"]
    return {
        int(u): set(s.split(" / ")) for u, s in zip(carried.unit, carried.gene_sets, strict=True)
    }


def activity_correlation(a, b, pa, pb) -> float:
    """Median over matched units (as compare matches them) of their activities' correlation."""
    swap = len(pa) > len(pb)
    if swap:
        a, b, pa, pb = b, a, pb, pa
    match, _ = matched_cosines(pa, pb)
    za, zb = a.obsm["X_ortho_ae"], b.obsm["X_ortho_ae"]
    r = [np.corrcoef(za[:, i], zb[:, j])[0, 1] for i, j in enumerate(match)]
    return float(np.nanmedian(r))


def label_programs(adata, loadings: np.ndarray, sets) -> dict[int, set[str]]:
    """A peer's programs (programs x genes) labelled by the test that labels our units.

    The loadings stand in for a saliency map (genes x units) and tl.geneset_impact tests each
    set's mean loading against expression-matched random sets; a program carries its best set
    when significant, as a single run's unit does.
    """
    a = adata.copy()
    a.varm["saliency"] = np.ascontiguousarray(loadings.T, dtype=np.float64)
    a.uns["saliency"] = {
        "var_names": np.asarray(a.var_names),
        "input_mean": np.asarray(a.X.mean(0)).ravel(),
        "params": {},
    }
    ss.tl.geneset_impact(a, sets, progress=False)
    return _carried(ss.get.units(a))


def nmf(adata, seed, sets):
    from sklearn.decomposition import NMF

    t = time.perf_counter()
    h = NMF(64, init="random", max_iter=500, random_state=seed).fit(lognorm(adata)).components_
    seconds = time.perf_counter() - t
    return unit_rows(h), label_programs(adata, h, sets), seconds


def cnmf(adata, seed, sets, n_iter=CNMF_ITER):
    """cNMF (Kotliar et al. 2019) with 64 programs on the model's genes: its consensus spectra.

    ``n_iter`` NMF runs (scikit-learn, Frobenius loss on variance-scaled TPM, cNMF's defaults),
    outliers dropped (local density threshold 0.5), consensus = cluster medians; returns the
    consensus spectra (TPM units) with rows of length 1, their labels from the gene spectra
    scores, and seconds.
    """
    import contextlib
    import io
    import tempfile

    from cnmf import cNMF

    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        counts = adata.copy()
        counts.X = counts.X.astype(np.float32)
        counts.write_h5ad(f"{tmp}/counts.h5ad")
        with open(f"{tmp}/genes.txt", "w") as f:
            f.write("\n".join(adata.var_names))
        run = cNMF(output_dir=tmp, name="run")
        run.prepare(
            f"{tmp}/counts.h5ad",
            components=[64],
            n_iter=n_iter,
            seed=seed,
            genes_file=f"{tmp}/genes.txt",
        )
        run.factorize(worker_i=0, total_workers=1)
        run.combine()
        run.consensus(64, density_threshold=0.5, show_clustering=False, build_ref=False)
        _, scores, spectra, _ = run.load_results(64, 0.5)  # genes x programs
    seconds = time.perf_counter() - t
    as_rows = lambda m: np.nan_to_num(m.T.reindex(columns=adata.var_names).to_numpy(float))  # noqa: E731
    return unit_rows(as_rows(spectra)), label_programs(adata, as_rows(scores), sets), seconds


def drvi(adata, seed):
    """DRVI's programs: per latent direction that did not vanish, its effect score per gene."""
    import anndata as ad
    import scvi
    from drvi.model import DRVI

    quiet("scvi", "drvi", "lightning", "lightning.pytorch")
    t = time.perf_counter()
    scvi.settings.seed = seed
    a = adata.copy()
    a.X = a.X.astype(np.float32)
    DRVI.setup_anndata(a, is_count_data=True)
    model = DRVI(a, n_latent=DRVI_LATENT)
    model.train(max_epochs=DRVI_EPOCHS, accelerator="cpu", enable_progress_bar=False)
    embed = ad.AnnData(model.get_latent_representation())
    model.set_latent_dimension_stats(embed)
    model.calculate_interpretability_scores(embed)  # OOD scores in embed.varm
    rows = [
        np.asarray(embed.varm[f"OOD_combined_{d}"])[~embed.var[f"vanished_{d}_direction"]]
        for d in ("positive", "negative")
    ]
    return unit_rows(np.nan_to_num(np.concatenate(rows))), time.perf_counter() - t


def compare(pa, la, pb, lb):
    """Matched cosines, kept labels and the Jaccard of the carried sets of two answers.

    ``la``, ``lb``: program -> the sets it carries. A (program, set) pair is kept when the
    matched program of the other answer carries the set (both ways).
    """
    n = min(len(pa), len(pb))
    if len(pa) > len(pb):
        pa, la, pb, lb = pb, lb, pa, la
    match, cos = matched_cosines(pa[:n], pb)
    back = {int(j): i for i, j in enumerate(match)}
    kept = [s in lb.get(int(match[u]), ()) for u, own in la.items() if u < n for s in own]
    kept += [s in la.get(back[u], ()) for u, own in lb.items() if u in back for s in own]
    sa, sb = set().union(*la.values()), set().union(*lb.values())
    jac = len(sa & sb) / len(sa | sb) if sa | sb else np.nan
    return np.median(cos), np.mean(cos > 0.8), np.mean(kept) if kept else np.nan, jac, sa, sb


def row(data, method, res, seconds, markers="-", activity=None):
    med, share, kept, jac, sa, sb = res
    sets = f"{len(sa)} / {len(sb)}" if sa or sb else "-"
    k = "-" if np.isnan(kept) else f"{kept:.2f}"
    j = "-" if np.isnan(jac) else f"{jac:.2f}"
    r = "-" if activity is None else f"{activity:.3f}"
    print(
        f"| {data} | {method} | {med:.3f} / {share:.2f} | {r} | {k} | {j} | {sets} | {markers} | "
        f"{seconds:.1f} |",
        flush=True,
    )


def main():
    print(f"# torch threads: {__import__('torch').get_num_threads()}")
    print("| data | method | cos med / >0.8 | activity r | kept | Jaccard | sets | markers | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, adata, sets in datasets():
        if not PEERS_ONLY:
            ours(name, adata, sets)
        if "nmf" in WITHOUT:
            continue
        na, nla, ta = nmf(adata, 0, sets)
        nb, nlb, tb = nmf(adata, 1, sets)
        markers = "-"
        if name == "PBMC 3k":  # as for the single run: the fewest over 5 runs
            owned = [nla, nlb] + [nmf(adata, seed, sets)[1] for seed in (2, 3, 4)]
            markers = _markers(owned)
        row(name, "NMF(64)", compare(na, nla, nb, nlb), (ta + tb) / 2, markers)
        if HAVE["cnmf"]:
            ca, cla, ta = cnmf(adata, 0, sets)
            cb, clb, tb = cnmf(adata, 1, sets)
            markers = _markers([cla, clb]) if name == "PBMC 3k" else "-"
            method = f"cNMF(64), {CNMF_ITER} runs"
            row(name, method, compare(ca, cla, cb, clb), (ta + tb) / 2, markers)
        if HAVE["drvi"]:
            da, ta = drvi(adata, 0)
            db, tb = drvi(adata, 1)
            method = f"DRVI({DRVI_LATENT}), {DRVI_EPOCHS} epochs"
            row(name, method, compare(da, {}, db, {}), (ta + tb) / 2)
    if "nmf" in WITHOUT:
        print("# NMF, cNMF and DRVI left out (--without nmf)")
    for peer, module in (("cNMF", "cnmf"), ("DRVI", "drvi")):
        if module in WITHOUT:
            print(f"# {peer} ({module}) left out (--without {module})")
        elif not HAVE[module]:
            print(f"# {peer} ({module}) not installed: skipped")


def _markers(answers: list[dict[int, set[str]]]) -> str:
    """The fewest of the 7 PBMC marker sets that some program carries, over the answers."""
    names = list(ss.datasets.pbmc_markers())
    return f"{min(sum(m in set().union(*a.values()) for m in names) for a in answers)}/7"


def ours(name, adata, sets) -> None:
    """The single-run and consensus-model rows of one data set."""
    a, pa, la, ta = single(adata, sets, 0)
    b, pb, lb, tb = single(adata, sets, 1)
    markers = "-"
    if name == "PBMC 3k":
        owned = [la, lb] + [single(adata, sets, seed)[2] for seed in (2, 3, 4)]
        markers = _markers(owned)
    r = activity_correlation(a, b, pa, pb)
    row(name, "single run (n_runs=1)", compare(pa, la, pb, lb), (ta + tb) / 2, markers, r)
    ca, cpa, cla, sa_ = single(adata, sets, 0, N_RUNS)
    cb, cpb, clb, sb_ = single(adata, sets, 1, N_RUNS)
    if name == "PBMC 3k":  # the fewer of the two consensus answers' marker sets
        markers = _markers([cla, clb])
    unstable = sum((ss.get.units(x)["status"] == "unstable").sum() for x in (ca, cb))
    r = activity_correlation(ca, cb, cpa, cpb)
    method = f"consensus model (n_runs={N_RUNS}; {unstable} unstable)"
    row(name, method, compare(cpa, cla, cpb, clb), (sa_ + sb_) / 2, markers, r)


if __name__ == "__main__":
    main()
