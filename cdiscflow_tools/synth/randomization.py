"""Stratified 1:1 permuted-block randomization and the unblinded list (randomization/format.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from .population import Subject

BLOCK_SIZES = (4, 6)
DOSE_LEVELS = ("0.1", "0.5", "1.0")  # planned MSC dose levels, 10^6 cells/kg
SPARE_NUMBERS = 20  # numbers issued beyond the last one used
LIST_FILE = "unblinded_randomization_list.csv"


@dataclass(frozen=True)
class ListEntry:
    """One row of the unblinded list."""

    randno: str
    armcd: str
    doselvl: str


class _BlockSequence:
    """An endless 1:1 permuted-block arm sequence for one stratum."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._pending: list[str] = []

    def next(self) -> str:
        if not self._pending:
            size = self._rng.choice(BLOCK_SIZES)
            block = ["MSC", "PBO"] * (size // 2)
            self._rng.shuffle(block)
            self._pending = block
        return self._pending.pop(0)


def allocate(rng: random.Random, subjects: list[Subject]) -> list[ListEntry]:
    """Give randomized subjects numbers in randomization order and arms from their stratum's blocks.

    Numbers form one sequence R001, R002, ... (widened past 999); spare numbers after the last
    used one alternate between the strata, so the list covers every number issued.
    """
    randomized = sorted((s for s in subjects if s.randomized), key=lambda s: (s.rand_dt, s.key))
    total = len(randomized) + SPARE_NUMBERS
    width = max(3, len(str(total)))
    blocks = {1: _BlockSequence(rng), 2: _BlockSequence(rng)}
    entries = []
    for i in range(total):
        stratum = randomized[i].stratum if i < len(randomized) else 1 + i % 2
        arm = blocks[stratum].next()
        dose = rng.choice(DOSE_LEVELS) if arm == "MSC" else "0"
        entry = ListEntry(f"R{i + 1:0{width}d}", arm, dose)
        entries.append(entry)
        if i < len(randomized):
            s = randomized[i]
            s.randno, s.rand_index, s.arm, s.doselvl = entry.randno, i, arm, dose
    return entries


def write_list(out_dir: Path, entries: list[ListEntry]) -> Path:
    """Write randomization/unblinded_randomization_list.csv (UTF-8, LF, one header row)."""
    path = out_dir / "randomization" / LIST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["RANDNO,ARMCD,DOSELVL"] + [f"{e.randno},{e.armcd},{e.doselvl}" for e in entries]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path
