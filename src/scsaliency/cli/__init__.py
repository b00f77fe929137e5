"""``scsaliency run``: from counts to an annotated .h5ad, tables, figures and a short report.

:func:`main` dispatches; :mod:`._parser` declares the arguments, :mod:`._pipeline` is the
recipe (public ``tl`` / ``get`` / ``pl`` calls), :mod:`._outputs` writes figures and tables,
:mod:`._report` the HTML report.
"""

from __future__ import annotations

import sys

from ._parser import build_parser
from ._pipeline import CLIError

__all__ = ["build_parser", "main", "CLIError"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scsaliency`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CLIError as err:
        print(f"scsaliency: error: {err}", file=sys.stderr)
        return 2
    return 0
