"""Find the files named in ``data_manifest.yaml``: local directory, cache, then download."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

#: Environment variable naming a local directory with the data files (CI: ../shared/data).
DATA_DIR_VAR = "SCSALIENCY_DATA_DIR"
#: Environment variable overriding the cache directory.
CACHE_DIR_VAR = "SCSALIENCY_CACHE_DIR"


@cache
def manifest() -> dict[str, Any]:
    """The parsed ``data_manifest.yaml`` shipped with the package."""
    text = files("scsaliency.datasets").joinpath("data_manifest.yaml").read_text()
    return yaml.safe_load(text)


def entry(name: str) -> dict[str, Any]:
    """Manifest entry of a data set or gene-set resource."""
    m = manifest()
    for section in ("datasets", "gene_sets"):
        if name in m[section]:
            return m[section][name]
    known = sorted([*m["datasets"], *m["gene_sets"]])
    raise KeyError(f"{name!r} is not in data_manifest.yaml (known: {known}).")


def cache_dir() -> Path:
    """Where downloads are kept."""
    if os.environ.get(CACHE_DIR_VAR):
        return Path(os.environ[CACHE_DIR_VAR])
    import pooch

    return Path(pooch.os_cache("scsaliency"))


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_dir() -> Path | None:
    """The directory ``$SCSALIENCY_DATA_DIR`` names, as an absolute path; ``None`` if unset.

    A relative value is resolved against the working directory of the first process that reads
    it (this package resolves it on import), and the absolute path is written back into the
    environment, so notebook kernels, subprocesses and ``torchrun`` workers started from there
    see the same directory whatever their own working directory.
    """
    raw = os.environ.get(DATA_DIR_VAR)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = path.resolve()
        os.environ[DATA_DIR_VAR] = str(path)
    return path


def local_path(name: str) -> Path | None:
    """The manifest file of ``name`` in the data directory or the cache, if it is there.

    Raises
    ------
    FileNotFoundError
        When ``$SCSALIENCY_DATA_DIR`` is set but is not a directory or lacks the file: a set
        variable means "use these files", so nothing is downloaded in its place.
    """
    fname = entry(name)["file"]
    directory = data_dir()
    if directory is not None:
        if not directory.is_dir():
            raise FileNotFoundError(
                f"{DATA_DIR_VAR} is set to {os.environ[DATA_DIR_VAR]!r}, which is not a "
                f"directory. Point it at the folder that holds {fname!r}, or unset it to "
                "download the data."
            )
        if not (directory / fname).is_file():
            raise FileNotFoundError(
                f"{DATA_DIR_VAR}={str(directory)!r} has no file {fname!r} ({name}). Put the file "
                "there, point the variable at the folder that holds it, or unset it to download."
            )
        return directory / fname
    found = cache_dir() / fname
    return found if found.is_file() else None


def fetch(name: str) -> Path:
    """Path of the exact manifest file of ``name``: local, cached, or downloaded and hash-checked.

    Raises
    ------
    FileNotFoundError
        When the file is not local and cannot be downloaded; the message names the variable
        and the file.
    """
    found = local_path(name)
    if found is not None:
        return found
    e = entry(name)
    dl = e.get("download") or {}
    if dl.get("url") and dl.get("sha256") == e["sha256"]:
        import pooch

        try:
            return Path(
                pooch.retrieve(
                    dl["url"],
                    known_hash=f"sha256:{e['sha256']}",
                    fname=e["file"],
                    path=cache_dir(),
                    progressbar=False,
                )
            )
        except Exception as err:  # network errors come in many types
            # One sentence of ours, not the network library's chain of tracebacks.
            raise FileNotFoundError(missing(name, dl["url"], err)) from None
    raise FileNotFoundError(missing(name))


def missing(name: str, url: str | None = None, err: BaseException | None = None) -> str:
    """One message for a file that is neither local nor downloadable: what, where, what to do."""
    e = entry(name)
    origin = e.get("official") or e.get("source")
    tried = (
        f" Downloading it from {url} failed ({type(err).__name__}: {_reason(err)})."
        if url is not None
        else ""
    )
    return (
        f"{name}: the file {e['file']!r} is not in the cache {str(cache_dir())!r} and "
        f"{DATA_DIR_VAR} is not set.{tried} Put the file in a folder and set {DATA_DIR_VAR} "
        f"to that folder (it comes from {origin})."
    )


def _reason(err: BaseException | None) -> str:
    """The innermost reason of a network error (urllib's URLError wraps an OSError)."""
    reason = getattr(err, "reason", None) or err
    return str(reason).strip() or type(reason).__name__


# Resolve a relative data directory once, in the process that reads it first (see data_dir).
data_dir()
