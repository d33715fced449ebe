"""SHA-256 digests of files and folders: what the export manifest, the deployment payload and
the decision records are pinned by. Standard library only (the deploy verifier imports it)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path | str) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digests(root: Path | str) -> dict[str, str]:
    """``{path relative to root: sha256}`` of every file under ``root``, sorted by path."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file()}
