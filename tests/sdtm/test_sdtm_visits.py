"""Visit numbering (SDTMIG 3.4 SV: unscheduled VISITNUM = previous visit + .01 k) and VISITNUM/VISIT of records."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from transforms.sdtm.visits import derive_visit, number_visits

STUDY = SimpleNamespace(visits=[
    SimpleNamespace(event_oid="V1", visitnum=1.0, visit="VISIT 1", visitdy=1),
    SimpleNamespace(event_oid="V2", visitnum=2.0, visit="VISIT 2", visitdy=8),
    SimpleNamespace(event_oid="V3", visitnum=3.0, visit="VISIT 3", visitdy=15),
    SimpleNamespace(event_oid="UNS", visitnum=None, visit="UNSCHEDULED", visitdy=None),
])


def _edc(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({
        "SUBJECTKEY": [r[0] for r in rows], "SITEID": "S1", "EVENTOID": [r[1] for r in rows], "EVENTREPEAT": "1",
        "SVSTDTC": [r[2] for r in rows], "SVENDTC": [r[2] for r in rows], "_SRCFILE": "edc.xml", "_SRCREC": "r",
    }).astype("string")


def _visits() -> pd.DataFrame:
    # Visit 2 is done after visit 3 (out of order): it is no base for the unscheduled visits after it.
    edc = _edc([("A", "V1", "2020-01-01"), ("A", "UNS", "2020-01-07"), ("A", "V3", "2020-01-10"),
                ("A", "V2", "2020-01-20"), ("B", "V1", "2020-02-01")])
    labs = pd.DataFrame({"SUBJECTKEY": ["A", "A", "A", "A", "A", "B"], "SITEID": "S1",
                         "LABDATE": ["2020-01-05", "2020-01-10", "2020-01-15", "2020-01-25", "2020-01-05",
                                     "2020-01-20"]}).astype("string")
    return number_visits(edc, labs, STUDY)


def test_unscheduled_visits_numbered_after_the_highest_visit_so_far():
    v = _visits()
    a = v[v["SUBJECTKEY"] == "A"]
    assert a["SVSTDTC"].tolist() == ["2020-01-01", "2020-01-05", "2020-01-07", "2020-01-10", "2020-01-15",
                                     "2020-01-20", "2020-01-25"]
    assert a["VISITNUM"].tolist() == [1.0, 1.01, 1.02, 3.0, 3.01, 2.0, 3.02]
    assert a["VISIT"].tolist() == ["VISIT 1", "UNSCHEDULED 1.01", "UNSCHEDULED 1.02", "VISIT 3", "UNSCHEDULED 3.01",
                                   "VISIT 2", "UNSCHEDULED 3.02"]
    assert a["SVUPDES"].tolist()[1:3] == ["Laboratory sample outside a visit", "Unscheduled visit"]
    b = v[v["SUBJECTKEY"] == "B"]
    # Each subject counts on its own; a sample before the first visit follows visit 0 (screening not yet held).
    assert b["VISITNUM"].tolist() == [0.01, 1.0]


def test_records_placed_by_event_else_by_sample_date():
    records = pd.DataFrame({
        "_SUBJECTKEY": ["A", "A", "A", "A", "B"], "_EVENTOID": ["V2", "", "", "V9", ""],
        "_EVENTREPEAT": ["1", "", "", "1", ""],
        "LBDTC": ["2020-01-20", "2020-01-15T08:00", "2020-01-10T07:30", "2020-01-15", pd.NA],
    }).astype("string")
    visitnum, visit = derive_visit(records, "LB", _visits())
    # An eCRF event the visits do not hold is not placed by its date; a record without a date is not placed.
    assert visitnum.tolist() == [2.0, 3.01, 3.0, pd.NA, pd.NA]
    assert visit.tolist() == ["VISIT 2", "UNSCHEDULED 3.01", "VISIT 3", pd.NA, pd.NA]
