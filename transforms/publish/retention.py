"""Retention of releases: keep the last N, every shared or locked release, and always the current one."""
from __future__ import annotations

import shutil
from pathlib import Path

from transforms.publish.release import current_release

# A file of one of these names in a release folder pins the release: it was shared (an IPD package
# was built from it) or it is a database-lock release. Whoever shares or locks writes the file.
PIN_SHARED, PIN_LOCKED = "SHARED", "LOCKED"
PIN_FILES = (PIN_SHARED, PIN_LOCKED)


def is_pinned(release: Path) -> bool:
    """True when the release was shared or locked (never pruned)."""
    return any((release / name).exists() for name in PIN_FILES)


def published_releases(out: Path) -> list[Path]:
    """OUT's complete releases, oldest first (release ids start with their UTC time)."""
    folder = out / "releases"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def releases_to_prune(out: Path, keep_last: int) -> list[Path]:
    """Releases the policy removes: older than the last keep_last, neither pinned nor current."""
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1")
    releases = published_releases(out)
    current = current_release(out)
    kept = set(releases[-keep_last:])
    return [p for p in releases if p not in kept and p.resolve() != current and not is_pinned(p)]


def prune_releases(out: Path, keep_last: int) -> list[str]:
    """Remove the releases the policy does not keep (call only after a successful publish); their ids."""
    removed = []
    for release in releases_to_prune(out, keep_last):
        shutil.rmtree(release)
        removed.append(release.name)
    return removed
