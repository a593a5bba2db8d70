"""Release folders under OUT/releases and the atomic switch of OUT/current."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


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
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    link_tmp.symlink_to(Path("releases") / release_id)
    os.replace(link_tmp, out / "current")
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
