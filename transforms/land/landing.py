"""Discover a drop's files per source, fingerprint them (SHA-256) and record a landing manifest.

Only regular files inside the drop folder are read. Symbolic links (even pointing inside), devices,
FIFOs and sockets are never opened or copied; files and folders the contracts do not describe are
reported as findings and not read.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from transforms.cdisc.findings import ERROR, WARNING, Finding
from transforms.config import StudyConfig

CHUNK = 1 << 20
STAMP_FORMAT = "%Y%m%dT%H%M%S"
# Clocks of the EDC server and of this machine are not the same clock: a snapshot stamped a few
# minutes "ahead" is skew, not the future.
CLOCK_SKEW = timedelta(minutes=10)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class DropError(ValueError):
    """An entry of the drop that stops the run (blocking): unreadable, unnamable or impossible to order."""

    def __init__(self, path: str, reason: str, copy: bool = True) -> None:
        super().__init__(f"{printable(path)}: {reason}")
        self.path = path
        self.reason = reason
        self.copy = copy  # False when the entry cannot (or must not) be copied to quarantine


def printable(text: str) -> str:
    """Text safe to print, log or write: undecodable bytes and control characters shown as escapes."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


@dataclass(frozen=True)
class LandedFile:
    """One input file as it arrived."""

    source: str  # "edc", "lab", "randomization"
    site: str
    path: str  # relative to the exports folder
    sha256: str
    bytes: int
    stamp: str = ""  # snapshot time from the EDC file name
    excluded: str = ""  # why a landed snapshot is not used (e.g. a time stamp after the run's clock)

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
        """The EDC snapshot that supersedes all others (latest stamp in its name), excluded ones aside."""
        snaps = [f for f in self.of("edc") if not f.excluded]
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
        """Absolute path of a landed file, checked to still be a regular file reached without a link."""
        root = Path(self.exports)
        p = root
        for part in PurePosixPath(f.path).parts:
            p = p / part
            try:
                mode = os.lstat(p).st_mode
            except OSError as exc:
                raise DropError(f.path, f"is gone since it landed ({exc.strerror})", copy=False) from exc
            if stat.S_ISLNK(mode):
                raise DropError(f.path, "was replaced by a symbolic link since it landed", copy=False)
        if not stat.S_ISREG(mode):
            raise DropError(f.path, "is no longer a regular file", copy=False)
        return p


def open_regular(path: Path):
    """Open a regular file for reading without following a link; anything else raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{printable(path.name)} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_of(path: Path) -> str:
    """SHA-256 of a regular file, read in chunks."""
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class _Contract:
    """Where the study's contracts put files: what a drop entry may be."""

    study: StudyConfig

    def dir_patterns(self) -> set[str]:
        patterns = {self.study.edc.snapshot_glob, self.study.randomization.file}
        patterns |= {cfg.lab.glob for cfg in self.study.sites.values() if cfg.lab}
        out: set[str] = set()
        for pattern in patterns:
            parts = PurePosixPath(pattern).parent.parts
            out |= {"/".join(parts[: i + 1]) for i in range(len(parts))}
        return out

    def is_known_dir(self, rel: str) -> bool:
        return any(fnmatchcase(rel, p) for p in self.dir_patterns())


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _drop_finding(rule: str, rel: str, message: str, severity: str = WARNING) -> Finding:
    rel = printable(rel)
    return Finding(severity, rule, rel, "", "", message, key=f"drop {rel}")


def snapshot_time(stamp: str, timezone: str) -> datetime:
    """The instant a snapshot's name stamp stands for (local time of the study's sites)."""
    return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=ZoneInfo(timezone))


def scan_drop(exports: Path, study: StudyConfig, now: datetime | None = None) -> tuple[Landing, list[Finding]]:
    """Find and fingerprint every file of the drop the study's contracts describe; report everything else.

    Raises DropError for an entry that makes the drop unusable: a folder or file of the contract that
    cannot be read, a name that is not UTF-8, a snapshot name whose time stamp is not a time.
    """
    exports = exports.resolve()
    now = now or datetime.now(UTC)
    contract = _Contract(study)
    found: list[LandedFile] = []
    findings: list[Finding] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        folder = exports / rel_dir if rel_dir else exports
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise DropError(rel_dir or ".", f"folder cannot be read ({exc.strerror})", copy=False) from exc
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:  # vanished or unreadable between listing and looking at it
                raise DropError(rel, f"cannot be read ({exc.strerror})", copy=False) from exc
            if not _is_utf8(entry.name):
                raise DropError(rel, "the name is not valid UTF-8 (the contracts name every file in ASCII)",
                                copy=stat.S_ISREG(mode))
            if stat.S_ISDIR(mode):
                if contract.is_known_dir(rel):
                    stack.append(rel)
                else:
                    findings.append(_drop_finding("DROP-UNEXPECTED", rel,
                                                  "a folder the site export contracts do not describe: not read"))
            elif stat.S_ISREG(mode):
                landed = _classify(exports, rel, study, findings)
                if landed is not None:
                    found.append(landed)
            else:
                findings.append(_drop_finding("DROP-NOT-REGULAR", rel,
                                              f"{_kind(mode)}: not followed, not read, not copied", ERROR))
    found = _judge_snapshots(found, study, now, findings)
    rank = {"edc": 0, "lab": 1, "randomization": 2}
    found.sort(key=lambda f: (rank.get(f.source, 9), f.site, f.path))
    return Landing(str(exports), tuple(found)), findings


def land_exports(exports: Path, study: StudyConfig, now: datetime | None = None) -> Landing:
    """Find and fingerprint every file of the drop that a study's contracts describe."""
    return scan_drop(exports, study, now)[0]


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _classify(exports: Path, rel: str, study: StudyConfig, findings: list[Finding]) -> LandedFile | None:
    """The landed file a regular file of the drop is, or None (reported) when the contracts do not name it."""
    name = PurePosixPath(rel).name

    def land(source: str, site: str = "", stamp: str = "") -> LandedFile:
        p = exports / rel
        try:
            return LandedFile(source, site, rel, sha256_of(p), os.lstat(p).st_size, stamp)
        except OSError as exc:
            raise DropError(rel, f"cannot be read ({exc.strerror or exc})", copy=False) from exc

    if fnmatchcase(rel, study.edc.snapshot_glob):
        m = re.fullmatch(study.edc.snapshot_name_pattern, name, re.ASCII)
        if m:
            try:
                datetime.strptime(m["stamp"], STAMP_FORMAT)
            except ValueError as exc:
                raise DropError(rel, "the time stamp in the snapshot's name is not a valid date and time") from exc
            return land("edc", stamp=m["stamp"])
        if re.fullmatch(study.edc.snapshot_name_pattern, name):
            raise DropError(rel, "the time stamp in the snapshot's name uses digits other than 0-9")
    for site, cfg in sorted(study.sites.items()):
        if cfg.lab and fnmatchcase(rel, cfg.lab.glob):
            if cfg.lab.name_pattern is None or re.fullmatch(cfg.lab.name_pattern, name, re.ASCII):
                return land("lab", site)
    if rel == study.randomization.file:
        return land("randomization")
    findings.append(_drop_finding("DROP-UNEXPECTED", rel,
                                  "a file the site export contracts do not name (misnamed, a copy, or a stray file): not read"))
    return None


def _judge_snapshots(found: list[LandedFile], study: StudyConfig, now: datetime,
                     findings: list[Finding]) -> list[LandedFile]:
    """Exclude snapshots stamped after the run's clock: they would win every later night."""
    out: list[LandedFile] = []
    for f in found:
        if f.source == "edc" and snapshot_time(f.stamp, study.timezone) > now + CLOCK_SKEW:
            reason = "the time stamp in its name is after this run's clock: not used as the newest snapshot"
            findings.append(_drop_finding("EDC-SNAPSHOT-FUTURE", f.path, reason, ERROR))
            f = LandedFile(**(asdict(f) | {"excluded": reason}))
        out.append(f)
    snaps = [f for f in out if f.source == "edc"]
    if snaps and all(f.excluded for f in snaps):
        newest = max(snaps, key=lambda f: (f.stamp, f.path))
        raise DropError(newest.path, newest.excluded.replace("not used as the newest snapshot",
                                                             "no other snapshot to use"))
    return out


def quarantine(landing: Landing, f: LandedFile, reason: str, quarantine_dir: Path) -> Path:
    """Copy a rejected file (the original stays where it landed) with the reason beside it."""
    return quarantine_entry(Path(landing.exports), f.path, reason, quarantine_dir)


def quarantine_entry(exports: Path, rel: str, reason: str, quarantine_dir: Path, copy: bool = True) -> Path:
    """Copy a rejected drop entry into quarantine (regular files only) and write its reason beside it."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    name = printable(PurePosixPath(rel).name)
    src = exports / rel
    digest = ""
    if copy:
        try:
            digest = _copy_regular(src, quarantine_dir, name)
        except OSError:
            digest = ""  # unreadable, vanished or not a regular file: only the reason is kept
    if digest:
        target = quarantine_dir / f"{digest[:12]}_{name}"
    else:
        target = quarantine_dir / f"not-copied-{hashlib.sha256(rel.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}_{name}"
    target.with_name(target.name + ".reason.txt").write_text(
        f"file: {printable(rel)}\nsha256: {digest or '(not copied: the entry could not or must not be read)'}\n"
        f"reason: {printable(reason)}\n", encoding="utf-8")
    return target


def _copy_regular(src: Path, folder: Path, name: str) -> str:
    """Copy a regular file (never through a link) into folder as <sha12>_<name>; returns its SHA-256."""
    h = hashlib.sha256()
    tmp = folder / f".{name}.{os.getpid()}.partial"
    try:
        with open_regular(src) as fin, tmp.open("wb") as fout:
            while chunk := fin.read(CHUNK):
                h.update(chunk)
                fout.write(chunk)
        digest = h.hexdigest()
        target = folder / f"{digest[:12]}_{name}"
        if target.exists():
            tmp.unlink()
        else:
            os.replace(tmp, target)
        return digest
    finally:
        tmp.unlink(missing_ok=True)
