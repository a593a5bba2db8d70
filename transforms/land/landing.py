"""Discover a drop's files per source, fingerprint them (SHA-256) and record a landing manifest."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from transforms.config import StudyConfig

CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    """One input file as it arrived."""

    source: str  # "edc", "lab", "randomization"
    site: str
    path: str  # relative to the exports folder
    sha256: str
    bytes: int
    stamp: str = ""  # snapshot time from the EDC file name

    @property
    def name(self) -> str:
        """The file's name."""
        return Path(self.path).name


@dataclass(frozen=True)
class Landing:
    """What a drop holds, in a stable order."""

    exports: str
    files: tuple[LandedFile, ...]

    def of(self, source: str, site: str = "") -> list[LandedFile]:
        """Files of one source (and site)."""
        return [f for f in self.files if f.source == source and (not site or f.site == site)]

    def newest_snapshot(self) -> LandedFile | None:
        """The EDC snapshot that supersedes all others (latest stamp in its name)."""
        snaps = self.of("edc")
        return max(snaps, key=lambda f: (f.stamp, f.name)) if snaps else None

    def write(self, path: Path) -> None:
        """Write the landing manifest as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"exports": self.exports, "files": [asdict(f) for f in self.files]},
                                   indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> "Landing":
        """Read a landing manifest written by write()."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["exports"], tuple(LandedFile(**f) for f in data["files"]))

    def path_of(self, f: LandedFile) -> Path:
        """Absolute path of a landed file."""
        return Path(self.exports) / f.path


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def land_exports(exports: Path, study: StudyConfig) -> Landing:
    """Find and fingerprint every file of the drop that a study's contracts describe."""
    exports = exports.resolve()
    found: list[LandedFile] = []
    pattern = re.compile(study.edc.snapshot_name_pattern)

    def add(source: str, site: str, p: Path, stamp: str = "") -> None:
        found.append(LandedFile(source, site, p.relative_to(exports).as_posix(), sha256_of(p), p.stat().st_size, stamp))

    for p in sorted(exports.glob(study.edc.snapshot_glob)):
        m = pattern.fullmatch(p.name)
        if p.is_file() and m:
            add("edc", "", p, m["stamp"])
    for site, cfg in sorted(study.sites.items()):
        if cfg.lab:
            for p in sorted(exports.glob(cfg.lab.glob)):
                if p.is_file():
                    add("lab", site, p)
    rand = exports / study.randomization.file
    if rand.is_file():
        add("randomization", "", rand)
    return Landing(str(exports), tuple(found))


def quarantine(landing: Landing, f: LandedFile, reason: str, quarantine_dir: Path) -> Path:
    """Copy a rejected file (the original stays where it landed) with the reason beside it."""
    target = quarantine_dir / f"{f.sha256[:12]}_{f.name}"
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copy2(landing.path_of(f), target)
    target.with_name(target.name + ".reason.txt").write_text(
        f"file: {f.path}\nsha256: {f.sha256}\nreason: {reason}\n", encoding="utf-8")
    return target
