"""Release folders under OUT/releases and the atomic switch of OUT/current."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"


class OutputBusyError(RuntimeError):
    """Another run holds OUT's lock: two runs must never write the same output folder at once."""


@contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold OUT's lock (fcntl.flock on OUT/.lock) for a whole run; a second run is refused at once.

    Refused, not queued: a waiting nightly run would publish after the one it waited for, on a drop
    that may have changed meanwhile; the operator (or the next night) starts it again. The lock is
    the kernel's, so a killed run leaves no stale lock behind.
    """
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            raise OutputBusyError(f"another run (process {holder}) is writing to {out}; "
                                  "nothing was done, start again when it has finished") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def sweep_stale_runs(out: Path, run_id: re.Pattern[str]) -> list[str]:
    """Remove what killed runs left (their staging folders, partial releases); call holding out_lock."""
    removed: list[str] = []
    staging = out / ".staging"
    stale = [p for p in staging.iterdir() if run_id.fullmatch(p.name)] if staging.is_dir() else []
    releases = out / "releases"
    stale += [p for p in releases.iterdir() if p.name.startswith(".") and p.name.endswith(".partial")] \
        if releases.is_dir() else []
    for p in sorted(stale):
        if p.is_symlink() or not p.is_dir():
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)
        removed.append(p.name)
    link_tmp = out / ".current.tmp"
    if link_tmp.is_symlink():
        link_tmp.unlink()
    return removed


def new_release_dir(out: Path, release_id: str) -> Path:
    """A fresh, hidden folder to write a release into before it is complete."""
    tmp = out / "releases" / f".{release_id}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def finish_release(out: Path, tmp: Path, release_id: str) -> Path:
    """Move a complete release into place and point OUT/current at it (rename is atomic)."""
    final = out / "releases" / release_id
    if final.exists():
        raise FileExistsError(f"release {release_id} already exists")
    _fsync_tree(tmp)
    tmp.rename(final)
    link_tmp = out / ".current.tmp"
    try:
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        link_tmp.symlink_to(Path("releases") / release_id)
        os.replace(link_tmp, out / "current")
    except BaseException:
        # The switch failed (disk full, killed): `current` still points at the previous release, so
        # the new one is removed rather than left as a release nobody points at.
        if link_tmp.is_symlink():
            link_tmp.unlink()
        shutil.rmtree(final, ignore_errors=True)
        raise
    return final


def current_release(out: Path) -> Path | None:
    """The release OUT/current points at, if any."""
    cur = out / "current"
    return cur.resolve() if cur.is_symlink() or cur.exists() else None


def read_manifest(release: Path) -> dict:
    """A release's manifest."""
    return json.loads((release / "manifest.json").read_text(encoding="utf-8"))


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
