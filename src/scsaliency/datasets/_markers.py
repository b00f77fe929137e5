"""Cell-type marker gene sets for PBMCs."""

from __future__ import annotations

#: Canonical markers of the Seurat pbmc3k guided-clustering tutorial (IL7R, CCR7, S100A4,
#: CD8A, MS4A1, CD14, LYZ, FCGR3A, MS4A7, GNLY, NKG7, FCER1A, CST3, PPBP), each type extended
#: with well-established markers of the same population so that every set has >= 7 genes.
_PBMC_MARKERS = {
    "T": ["CD3D", "CD3E", "CD3G", "IL7R", "CCR7", "S100A4", "CD8A", "CD2", "LCK", "TRAT1"],
    "B": ["MS4A1", "CD79A", "CD79B", "CD19", "TCL1A", "BANK1", "VPREB3", "CD22"],
    "NK": ["GNLY", "NKG7", "GZMB", "PRF1", "KLRD1", "KLRF1", "FGFBP2", "SPON2"],
    "CD14+ Mono": ["CD14", "LYZ", "S100A8", "S100A9", "FCN1", "VCAN", "LGALS2", "CSF3R"],
    "FCGR3A+ Mono": ["FCGR3A", "MS4A7", "LST1", "IFITM2", "RHOC", "CDKN1C", "HES4", "CKB"],
    "DC": ["FCER1A", "CST3", "CLEC10A", "CD1C", "HLA-DQA1", "HLA-DQB1", "SERPINF1", "ENHO"],
    "Platelet": ["PPBP", "PF4", "GNG11", "SDPR", "SPARC", "GP9", "ITGA2B", "TUBB1", "CLU"],
}

#: Which ``obs["cell_type"]`` labels of :func:`pbmc3k` each marker set stands for.
PBMC_MARKER_LABELS = {
    "T": ["Naive CD4 T", "Memory CD4 T", "CD8 T"],
    "B": ["B"],
    "NK": ["NK"],
    "CD14+ Mono": ["CD14+ Mono"],
    "FCGR3A+ Mono": ["FCGR3A+ Mono"],
    "DC": ["DC"],
    "Platelet": ["Platelet"],
}


def pbmc_markers() -> dict[str, list[str]]:
    """Marker gene sets of seven PBMC types (T, B, NK, CD14+ and FCGR3A+ monocytes, DC, platelets).

    The Seurat pbmc3k tutorial's canonical markers, each set extended with well-established
    markers of the same population. :data:`PBMC_MARKER_LABELS` maps each set to the
    ``obs["cell_type"]`` labels of :func:`scsaliency.datasets.pbmc3k` it describes.

    Returns
    -------
    ``{"MARKERS_<type>": genes}``, human symbols.
    """
    return {f"MARKERS_{k}": list(v) for k, v in _PBMC_MARKERS.items()}
