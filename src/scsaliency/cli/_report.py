"""The command line's HTML report: ``report.html`` (a template beside this module) filled in.

Everything shown is read from what the tools stored in the AnnData; text is HTML-escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core.labels import TIE_SEPARATOR, UNSTABLE, clean_name, clean_names, split_sets
from .._stored import (
    SEED_DEPENDENT,
    entry_of,
    impact_entry,
    min_zscore,
    saliency_entry,
    shown_sets,
    stored_set_table,
    stored_units,
)
from .._utils import batches as _batches


def write_report(
    out: Path,
    adata: AnnData,
    *,
    title: str,
    gene_sets: Sequence[str],
    groupby: str | None,
    figures: Mapping[str, str],
    tables: Sequence[str],
    diffs: Sequence[pd.DataFrame],
) -> Path:
    """Write ``out / "report.html"`` and return its path.

    ``figures`` maps PNG file names in ``out`` to captions; ``tables`` are CSV file names in
    ``out``; ``diffs`` are :func:`scsaliency.get.impact_diff` tables, one per group.
    """
    e = impact_entry(adata)
    links = ", ".join(f"<a href='{t}'>{t}</a>" for t in [*tables, "adata.h5ad"])
    page = Template(files("scsaliency.cli").joinpath("report.html").read_text()).substitute(
        title=html.escape(title),
        n_cells=adata.n_obs,
        n_genes=len(entry_of(adata, "ortho_ae")["var_names"]),
        model=_model_line(adata),
        n_sets=len(e["impact"]),
        gene_sets=", ".join(map(html.escape, gene_sets)),
        groupby=html.escape(str(groupby)),
        links=links,
        carried=_carried_units(adata),
        groups=_group_section(diffs),
        figures="".join(
            f"<figure><div class='fig'><a href='{f}'><img src='{f}' alt='{html.escape(c)}'>"
            f"</a></div><figcaption>{html.escape(c)}</figcaption></figure>"
            for f, c in figures.items()
        ),
    )
    path = out / "report.html"
    path.write_text(page)
    return path


def _model_line(adata: AnnData) -> str:
    """How the model came about: trained (with its settings) or transferred."""
    m = entry_of(adata, "ortho_ae")
    p = m["params"]
    if "transfer" in m:
        t = m["transfer"]
        model = (
            f"the model of {html.escape(str(t['source']))} ({p['n_latent']} units, no training; "
            f"{t['n_missing']} of its {t['n_genes']} genes missing here, entered as zeros)"
        )
    else:
        model = (
            f"{p['n_latent']} units, {html.escape(str(p.get('decoder', 'mlp')))} decoder, "
            f"{'centred' if p.get('center_input') else 'uncentred'} encoder input, "
            f"{'size factors' if p.get('library_size', True) else 'raw counts'}, "
            f"{'units scaled by their program' if p.get('scale_units') else 'unscaled units'}; "
            "trained "
            f"{p['n_epochs']} epochs (best {p['best_epoch'] + 1}) on {html.escape(p['device'])}"
        )
    model += f"; saliency: {html.escape(saliency_entry(adata)['params']['method'])}"
    batches = _batches.stored_categories(m)
    if batches:
        model += "; batches kept out of the units: " + ", ".join(
            f"{html.escape(k)} ({len(c)})" for k, c in batches.items()
        )
        if "ortho_ae_aligned" in adata.uns:
            model += ", the UMAP's graph built on the units aligned across them (tl.align)"
    if "consensus" in m:
        cp = m["consensus"]["params"]
        model += (
            f"; the consensus of {int(cp['n_runs'])} runs with other seeds: its "
            f"{int(m['params']['n_latent'])} units are the programs that came back in at least "
            f"{float(cp['min_share']):.0%} of the runs (of {int(cp['n_latent_runs'])} units "
            "each), their activities refitted (stability in units.csv: the share of runs)"
        )
    if "stability" in m:
        sp = m["stability"]["params"]
        model += (
            f"; stability and consensus labels over {int(sp['n_runs']) + 1} runs "
            f"(units below {float(sp['min_stability']):g} are unstable, see units.csv)"
        )
        sets = stored_set_table(adata)
        if sets is not None:
            runs = sets["runs"]
            model += (
                f"; {int((runs == 1).sum())} gene sets carried by some unit in every run, "
                f"{int(((runs > 0) & (runs <= SEED_DEPENDENT)).sum())} in half of them or fewer "
                "(seed-dependent findings, see geneset_stability.csv)"
            )
        if sets is not None and "median_zscore" in sets:
            cut = min_zscore(sp)
            model += (
                f"; {int((sets['median_zscore'] >= cut).sum())} gene sets with a median z-score "
                f"of {cut:g} or more over the runs (the sets that reproduce best whatever the "
                "seed, median_zscore in geneset_stability.csv)"
            )
        named = m["stability"]["units"].get("consensus_sets")
        if named is not None:
            carried = {s for v in named for s in split_sets(v)}
            model += (
                f"; {len(carried)} gene sets carried by the model's units as consensus labels "
                "(consensus_sets in units.csv)"
            )
    return model


def _carried_units(adata: AnnData) -> str:
    """Table rows: the units that carry a set, strongest first, read from the units table.

    The same rule as :func:`scsaliency.get.units` and the heatmap's labels: a set is shown
    with the unit whose label it is, never with a unit whose label is another set.
    """
    table = stored_units(adata)
    if table is None:
        return "<tr><td>no units table: run tl.geneset_impact again</td></tr>"
    shown = shown_sets(table)
    carried = table[shown != ""]
    first = shown.str.split(TIE_SEPARATOR).str[0]  # the strongest of near-tied sets
    has_stability = carried["stability"].notna().any()
    head = "<tr><th>unit</th><th>gene set</th><th>z</th><th>padj</th><th>runner-up</th>"
    head += "<th>stability</th></tr>" if has_stability else "</tr>"
    # the z and padj of the set shown (a consensus set may not be this run's best set)
    e = impact_entry(adata)
    z, padj = (
        pd.Series(
            [e[k].loc[first[u], u] if k in e else np.nan for u in carried.index], carried.index
        )
        for k in ("zscore", "padj")
    )
    rows = ""
    order = z.fillna(carried["score"]).sort_values(ascending=False).index  # score: no null
    for unit, r in carried.loc[order].iterrows():
        name = clean_names(shown[unit])
        # a consensus program may carry several sets: the others, weaker, after the first
        also = [x for x in split_sets(r["consensus_sets"]) if x != first[unit]]
        name += f" (also {', '.join(clean_name(x) for x in also)})" if also else ""
        name += " (unstable)" if r["status"] == UNSTABLE else ""
        # the runner-up: the unit's best set not named in its label (near-ties are named)
        named = shown[unit].split(TIE_SEPARATOR)
        other = r["second_set"] if first[unit] == r["gene_set"] else r["gene_set"]
        if "zscore" in e and other in named:
            rest = e["zscore"][unit].drop(named, errors="ignore")
            other = rest.idxmax() if rest.notna().any() else ""
        rows += (
            f"<tr><td>{unit}</td><td>{html.escape(name)}</td><td>{z[unit]:.2f}</td>"
            f"<td>{padj[unit]:.2g}</td><td>{html.escape(clean_name(other))}</td>"
            + (f"<td>{r['stability']:.2f}</td></tr>" if has_stability else "</tr>")
        )
    return head + (rows or "<tr><td colspan='5'>no unit carries a significant set</td></tr>")


def _group_section(diffs: Sequence[pd.DataFrame]) -> str:
    """Per group, the three sets it raises most against the rest, and which test ran."""
    if not diffs:
        return ""
    rows = ""
    for d in diffs:
        best = d.loc[d.groupby("gene_set")["diff"].idxmax()].nlargest(3, "diff")
        cells = "; ".join(
            f"{html.escape(clean_name(r.gene_set))} (unit {r.unit}, padj {r.padj:.1g})"
            for r in best.itertuples()
        )
        rows += f"<tr><td>{html.escape(str(d.attrs['group1']))}</td><td>{cells}</td></tr>"
    attrs = diffs[-1].attrs
    if attrs["test"].startswith("samples"):
        how = (
            f"Tests across the samples of obs[{attrs['sample_key']!r}] (pseudobulk: the mean "
            "per-cell impact of a group's cells in each sample): " + attrs["test"].split(", ", 1)[1]
        )
    else:
        how = (
            "Tests with cells as replicates (Welch's t-test): right only when all cells come "
            "from one sample; with several, pass --sample-key"
        )
    return (
        "<h2>Gene sets each group raises most against the rest</h2>"
        f"<p>{html.escape(how)}; Benjamini-Hochberg adjusted.</p><table>" + rows + "</table>"
    )
