"""Parameter texts shared by several public functions, written once.

A docstring names a shared text as ``{name}`` on its own line at the parameter indentation;
:func:`doc_params` fills it in, keeping the indentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

TEXTS = {
    "batch_size": """batch_size
    Cells per chunk. Larger chunks use the CPU or GPU better and take more memory.""",
    "device": """device
    ``"auto"`` (default) takes CUDA when available, else the CPU; or any torch device
    (``"cpu"``, ``"cuda:1"``).""",
    "copy": """copy
    Return a modified copy instead of writing into ``adata``.""",
    "progress": """progress
    Show a progress bar (tqdm). Set ``False`` in scripts and tests.""",
    "model_key": """model_key
    ``key_added`` of the model (from :func:`scsaliency.tl.ortho_ae` or
    :func:`scsaliency.tl.transfer`).""",
    "stability_model": """adata
    AnnData holding a model in ``uns[key]`` on which :func:`scsaliency.tl.stability` ran
    with ``gene_sets``.
key
    The model's ``key_added``.""",
    "impact_result": """adata
    AnnData with ``uns[key]`` from :func:`scsaliency.tl.geneset_impact`.
key
    Its ``key_added``.""",
    "show_save": """show, save, return_fig
    As in scanpy: ``show`` the figure (``None``: when ``sc.settings.autoshow`` and an
    interactive backend); ``save`` it to a path (``True``: ``sc.settings.figdir`` with the
    plot's name, as PNG); return the figure instead of the axes (``return_fig``).""",
}


def doc_params(*names: str) -> Callable[[F], F]:
    """Fill the shared texts ``names`` into a function's docstring."""

    def decorate(func: F) -> F:
        doc = func.__doc__ or ""
        for name in names:
            marker = "{" + name + "}"
            start = doc.index(marker)
            indent = doc[doc.rindex("\n", 0, start) + 1 : start]
            text = TEXTS[name].replace("\n", "\n" + indent)
            doc = doc.replace(marker, text)
        func.__doc__ = doc
        return func

    return decorate
