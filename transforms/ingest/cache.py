"""A content-addressed cache of what ingest made of each landed file, so a night re-reads only new files.

Key: SHA-256 of the landed file's content with everything else its staged tables depend on (its
name, the source's configuration, the reading code's version). Value: the staged Parquet tables and
a manifest holding each table's SHA-256. The cache holds identifiers (MRNs, patient names), like
staging: it lives in OUT/.cache/staged (mode 0700), never in a release. An entry is written to a
temporary folder and renamed into place whole; one whose files do not match its manifest is deleted
and the file is read again.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from transforms.land.landing import sha256_of

MANIFEST = "manifest.json"
RUNS = "runs.json"
# Entries used by none of the last KEEP_RUNS published runs are deleted: a re-run of last night
# (--force, a retried DAG run) and a night that lost a file still find theirs.
KEEP_RUNS = 3
_LIBRARIES = ("pandas", "pyarrow", "lxml")


def private_dir(path: Path) -> Path:
    """Create a folder (and its missing parents) readable by the owner only: it holds identifiers."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for p in {path, *missing}:
        os.chmod(p, 0o700)
    return path


@functools.cache
def _modules_version(modules: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in sorted(modules):
        h.update(name.encode())
        h.update(Path(sys.modules[name].__file__).read_bytes())
    for lib in _LIBRARIES:
        h.update(f"{lib}={importlib.metadata.version(lib)}".encode())
    return h.hexdigest()


def code_version(modules: tuple[str, ...], files: tuple[Path, ...] = ()) -> str:
    """SHA-256 of the reading code (the modules' source, library versions) and of files it reads (e.g. the eCRF)."""
    h = hashlib.sha256(_modules_version(modules).encode())
    for path in files:
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def cache_key(**parts: str) -> str:
    """The key of an entry: SHA-256 of everything its tables depend on."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """A verified entry: its folder (files named as put) and the statistics stored with it."""

    folder: Path
    meta: dict

    def file(self, name: str) -> Path:
        """One of the entry's files."""
        return self.folder / name


@dataclass(frozen=True)
class StagedCache:
    """The cache folder, and where this run records the keys it used (for pruning at publish)."""

    root: Path
    used: Path

    def get(self, key: str) -> CacheEntry | None:
        """The entry of that key when present and whole (every file matches the manifest), else None."""
        folder = self.root / key
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            whole = manifest.get("key") == key and all(
                sha256_of(folder / name) == digest for name, digest in manifest["files"].items())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            whole = False
        if not whole:
            # Partial, damaged or not ours: never used; the file is read again and the entry rewritten.
            shutil.rmtree(folder, ignore_errors=True)
            return None
        try:
            self._mark_used(key)
        except OSError:
            pass  # unmarked, the entry may be pruned early: it is read again, never wrong
        return CacheEntry(folder, manifest.get("meta", {}))

    @contextmanager
    def writing(self, key: str, meta: dict | None = None) -> Iterator[Path]:
        """A private temporary folder to write an entry's files into; renamed into place whole if the block succeeds."""
        private_dir(self.root)
        tmp = self.root / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            yield private_dir(tmp)
            digests = {p.name: sha256_of(p) for p in sorted(tmp.iterdir())}
            (tmp / MANIFEST).write_text(json.dumps({"key": key, "files": digests, "meta": meta or {}},
                                                   sort_keys=True), encoding="utf-8")
            try:
                os.rename(tmp, self.root / key)
            except OSError:
                pass  # another task stored the same key first: same content, keep theirs
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._mark_used(key)

    def put(self, key: str, files: Mapping[str, Path], meta: dict | None = None) -> None:
        """Store copies of files under key (see writing)."""
        with self.writing(key, meta) as folder:
            for name, src in files.items():
                shutil.copyfile(src, folder / name)

    def _mark_used(self, key: str) -> None:
        private_dir(self.used)
        (self.used / key).touch()

    def used_keys(self) -> set[str]:
        """The keys this run read or wrote."""
        return {p.name for p in self.used.iterdir()} if self.used.is_dir() else set()

    def prune(self, keep_runs: int = KEEP_RUNS) -> list[str]:
        """After a publish (under OUT's lock): delete entries none of the last keep_runs runs used; returns them."""
        if not self.root.is_dir():
            return []
        runs_file = self.root / RUNS
        try:
            runs = json.loads(runs_file.read_text(encoding="utf-8"))
            runs = [list(r) for r in runs if isinstance(r, list)]
        except (OSError, ValueError, TypeError):
            runs = []
        runs = [*runs, sorted(self.used_keys())][-keep_runs:]
        keep = {k for r in runs for k in r}
        removed = []
        for entry in sorted(self.root.iterdir()):
            if entry.name == RUNS or entry.name in keep:
                continue
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed.append(entry.name)
        tmp = runs_file.with_name(f".{RUNS}.{os.getpid()}")
        tmp.write_text(json.dumps(runs), encoding="utf-8")
        os.replace(tmp, runs_file)
        return removed
