"""Sphinx configuration of the scsaliency documentation site.

The tutorials are jupytext scripts in ``tutorials/``; each build writes them out as notebooks
under ``docs/tutorials/`` (not committed) and myst-nb executes them, so the docs build is the
tutorials' one execution and a failing tutorial fails the build.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import jupytext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

# Sphinx runs this file from docs/, so a relative data directory (the README's
# SCSALIENCY_DATA_DIR=../shared/data) is made absolute against the directory the command was
# typed in before the package reads it; the notebook kernels inherit the absolute path.
_data = os.environ.get("SCSALIENCY_DATA_DIR")
if _data and not Path(_data).expanduser().is_absolute():
    _typed_in = Path(os.environ.get("PWD", ROOT))
    os.environ["SCSALIENCY_DATA_DIR"] = str((_typed_in / _data).expanduser().resolve())

import scsaliency  # noqa: E402

project = "scsaliency"
author = "the scsaliency developers"
copyright = f"{date.today().year}, {author}"
release = version = scsaliency.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "tutorials/figures", "**.ipynb_checkpoints"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# The docs build executes the tutorials (once per build), stopping at the first error.
nb_execution_mode = "force"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "sphinx_book_theme"
html_title = "scsaliency"
html_theme_options = {"show_toc_level": 2, "repository_url": "", "use_repository_button": False}
html_static_path: list[str] = []


def _write_notebooks() -> None:
    """Tutorials (jupytext percent scripts) -> ``docs/tutorials/*.ipynb``, rewritten if changed."""
    out = HERE / "tutorials"
    out.mkdir(exist_ok=True)
    for script in sorted((ROOT / "tutorials").glob("*.py")):
        nb = jupytext.read(script)
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        text = jupytext.writes(nb, fmt="ipynb")
        target = out / f"{script.stem}.ipynb"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)


_write_notebooks()
