"""Issue 27: every command the README shows runs as written, from the repository root.

The test command is CI's own (``.ci/run``) and the documentation command is run by
``tests/test_docs.py``; here the main job (the first bash block, without its installation
steps) and the Python example.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pandas as pd
import pytest

import scsaliency as ss

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _env() -> dict[str, str]:
    """This interpreter first on PATH; the data directory only as the command sets it."""
    env = {k: v for k, v in os.environ.items() if k != ss.datasets.DATA_DIR_VAR}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def test_main_job_as_written():
    command = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)[0].strip().split(" && ")[-1]
    assert command.startswith("SCSALIENCY_DATA_DIR=../shared/data scsaliency run"), command
    out = ROOT / re.search(r"--out (\S+)", command).group(1)
    run = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-4000:]
    written = ("adata.h5ad", "impact.csv", "units.csv", "impact_diff.csv")
    for name in (*written, "report.html"):
        assert (out / name).stat().st_size > 0, name
    # One rule everywhere: the report's table of units is the units table's rows whose label
    # names a set (those that carry one, and unstable ones that carried one)
    units = pd.read_csv(out / "units.csv")
    carried = units[units["label"] != units["unit"].astype(str) + ": " + units["status"]]
    assert (carried["status"] == "carries a set").any()
    # the consensus model by default: every unit came back in at least half of the runs
    assert (units["stability"] >= 0.5).all() and "unstable" not in set(units["status"])
    report = (out / "report.html").read_text()
    section = report.split("Units that carry a gene set")[1].split("</table>")[0]
    shown = re.findall(r"<tr><td>(\d+)</td>", section)
    assert sorted(map(int, shown)) == sorted(carried["unit"]) and shown
    # each row's z is the z-score of the (first) set it shows
    zscore = ad.read_h5ad(out / "adata.h5ad").uns["geneset_impact"]["zscore"]
    named = carried.set_index("unit")
    named = named["consensus_set"].fillna(named["gene_set"])
    for unit, z in re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([-\d.]+)</td>", section):
        assert float(z) == pytest.approx(zscore.loc[named[int(unit)], unit], abs=0.006)
    assert "HALLMARK_" not in section
    # the runner-up is a set the label does not already name (near-ties are named together)
    rows = re.findall(
        r"<tr><td>\d+</td><td>([^<]*)</td><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>", section
    )
    assert rows and all(other not in name.split(" / ") for name, other in rows)


def test_python_example_as_written(tmp_path):
    block = re.search(r"```python\n(.*?)\n```", README, flags=re.S).group(1)
    assert "ss.tl.ortho_ae(" in block and "ss.pl.impact_diff(" in block
    script = tmp_path / "readme_example.py"
    script.write_text(block + "\nprint(adata.uns['ortho_ae']['params']['n_latent'])\n")
    env = _env()
    env[ss.datasets.DATA_DIR_VAR] = str(ss.datasets._registry.data_dir())
    run = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Traceback" not in run.stderr
