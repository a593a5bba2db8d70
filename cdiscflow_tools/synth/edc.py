"""Stream nightly EDC snapshots as CDISC ODM 1.3.2 (edc/export.md), one subject at a time.

Plain string writing keeps 20,000 subjects fast and small in memory; every attribute value goes
through `_attr`, so the output stays well-formed whatever the free text holds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from types import TracebackType

from .crf import REMOVED, GroupRecord
from .metadata import ODM_NS, Ecrf

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
                          "\t": "&#9;"})


def _attr(value: str) -> str:
    return value.translate(_ESCAPES)


@dataclass(frozen=True)
class Snapshot:
    """One nightly export: the night it holds data up to, and its file name."""

    night: date
    created: datetime

    @property
    def stamp(self) -> str:
        """YYYYMMDDTHHMMSS as in the file name and FileOID."""
        return self.created.strftime("%Y%m%dT%H%M%S")

    @property
    def name(self) -> str:
        """File name per the contract: NCT03668171_ODM_YYYYMMDDTHHMMSS.xml."""
        return f"NCT03668171_ODM_{self.stamp}.xml"


def plan_snapshots(seed: int, cut: date, count: int) -> list[Snapshot]:
    """Snapshots on consecutive nights ending at the data cut, exported a few seconds after 23:00."""
    out = []
    for back in range(count - 1, -1, -1):
        night = date.fromordinal(cut.toordinal() - back)
        second = random.Random(f"{seed}|snapshot|{night.isoformat()}").randrange(60)
        out.append(Snapshot(night, datetime.combine(night, time(23, 0, second))))
    return out


def _group_xml(g: GroupRecord, night: date) -> list[str]:
    """Lines of one ItemGroupData as of a night (items not yet entered are absent)."""
    repeat = f' ItemGroupRepeatKey="{g.group_repeat}"' if g.group_repeat is not None else ""
    lines = [f'          <ItemGroupData ItemGroupOID="{g.group}"{repeat}>']
    for item in g.items:
        current = _value_on(item.versions, night)
        if current is _ABSENT:
            continue
        if current is REMOVED:
            lines.append(f'            <ItemData ItemOID="{item.oid}" TransactionType="Remove"/>')
        else:
            lines.append(f'            <ItemData ItemOID="{item.oid}" Value="{_attr(current)}"/>')
    lines.append("          </ItemGroupData>")
    return lines


_ABSENT = object()


def _value_on(versions: list[tuple[date, str | None]], night: date) -> object:
    """The item's value on a night: its latest version entered by then, or _ABSENT."""
    current: object = _ABSENT
    for when, value in versions:
        if when <= night:
            current = value
    return current


def subject_xml(key: str, site: str, groups: list[GroupRecord], night: date) -> str:
    """One SubjectData as of a night; empty when nothing of the subject was entered yet."""
    visible = [g for g in groups if g.entered <= night]
    if not visible:
        return ""
    lines = [f'    <SubjectData SubjectKey="{_attr(key)}">', f'      <SiteRef LocationOID="{site}"/>']
    event = form = None
    for g in visible:
        if (g.event, g.event_repeat) != event:
            if form is not None:
                lines.append("        </FormData>")
            if event is not None:
                lines.append("      </StudyEventData>")
            repeat = f' StudyEventRepeatKey="{g.event_repeat}"' if g.event_repeat is not None else ""
            lines.append(f'      <StudyEventData StudyEventOID="{g.event}"{repeat}>')
            event, form = (g.event, g.event_repeat), None
        if g.form != form:
            if form is not None:
                lines.append("        </FormData>")
            lines.append(f'        <FormData FormOID="{g.form}">')
            form = g.form
        lines.extend(_group_xml(g, night))
    lines += ["        </FormData>", "      </StudyEventData>", "    </SubjectData>"]
    return "\n".join(lines) + "\n"


class SnapshotWriter:
    """Writes all snapshot files in one pass over the subjects."""

    def __init__(self, out_dir: Path, snapshots: list[Snapshot], md: Ecrf) -> None:
        self.snapshots = snapshots
        edc = out_dir / "edc"
        edc.mkdir(parents=True, exist_ok=True)
        self.paths = [edc / s.name for s in snapshots]
        self._files = [p.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) for p in self.paths]
        for f, snap in zip(self._files, snapshots, strict=True):
            f.write(
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Snapshot" '
                f'FileOID="NCT03668171.EXPORT.{snap.stamp}" CreationDateTime="{snap.created.isoformat()}+08:00">\n'
                f'  <ClinicalData StudyOID="{md.study_oid}" MetaDataVersionOID="{md.mdv_oid}">\n')

    def write_subject(self, key: str, site: str, groups: list[GroupRecord]) -> None:
        """Append the subject (as of each night) to every snapshot."""
        for f, snap in zip(self._files, self.snapshots, strict=True):
            f.write(subject_xml(key, site, groups, snap.night))

    def close(self) -> None:
        """Close the ClinicalData and ODM elements and the files."""
        for f in self._files:
            f.write("  </ClinicalData>\n</ODM>\n")
            f.close()

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
