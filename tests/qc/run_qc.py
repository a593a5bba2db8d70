"""Run the QC derivations on a drop and print row counts.

Usage: python run_qc.py DROP [METADATA_XML]
(METADATA_XML defaults to ../docs/edc/metadata.xml next to this folder.)
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from qc_derive import derive_all  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    drop = pathlib.Path(argv[1])
    meta = pathlib.Path(argv[2]) if len(argv) > 2 else (
        pathlib.Path(__file__).resolve().parent.parent / "docs" / "edc" / "metadata.xml")
    out = derive_all(drop, meta)
    for name, df in out.items():
        print(f"{name:6s} {len(df):7d} rows")
    adsl = out["adsl"]
    for fl in ["RANDFL", "ITTFL", "SAFFL", "PPROTFL"]:
        print(f"  {fl:8s} Y={int((adsl[fl] == 'Y').sum())}")
    adlb = out["adlb"]
    print(f"  ADLB lab rows={int((adlb['PARAMCD'] != 'MELD').sum())} MELD rows="
          f"{int((adlb['PARAMCD'] == 'MELD').sum())} ABLFL={int((adlb['ABLFL'] == 'Y').sum())} "
          f"ANL01FL={int((adlb['ANL01FL'] == 'Y').sum())}")
    tte = out["adtte"]
    for p, g in tte.groupby("PARAMCD"):
        print(f"  {p} events={int((g['CNSR'] == 0).sum())} censored={int((g['CNSR'] == 1).sum())}")
    print(f"  REM12 Y={int((out['adrs']['REM12'] == 'Y').sum())}")
    print(f"  TEAE Y={int((out['adae']['TRTEMFL'] == 'Y').sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
