"""quality.html: tables without stray headers, n/a for what is not scheduled, one trend point per data cut."""
from __future__ import annotations

import json

import pandas as pd

from transforms.config.quality import CompletenessItem
from transforms.quality.report import (NOT_SCHEDULED, _table, completeness, findings_by, findings_by_domain,
                                       new_queries_section, release_trend, rules_described)


def _queries() -> pd.DataFrame:
    rows = [("Q1", "SITE01", "RAW-EDC-DATE", "error", "new"), ("Q2", "SITE01", "EC-VISIT-WINDOW", "warning", "open"),
            ("Q3", "SITE02", "RAW-EDC-DATE", "error", "new"), ("Q4", "SITE02", "LIS-ORPHAN", "error", "resolved"),
            ("Q5", "", "DROP-UNEXPECTED", "warning", "new")]
    return pd.DataFrame([{"QUERY_ID": q, "SITE": s, "SUBJID": "01-001", "VISIT": "", "FIELD": "I.X", "RULE": r,
                          "MESSAGE": "m", "SEVERITY": sev, "STATUS": st} for q, s, r, sev, st in rows])


def test_count_tables_have_no_empty_severity_column():
    q = _queries()
    findings = pd.DataFrame({"DOMAIN": ["AE", "", "AE"], "SEVERITY": ["error", "warning", "info"]})
    for table in (findings_by(q, "SITE"), findings_by(q, "RULE"), findings_by_domain(findings)):
        assert "SEVERITY" not in _table(table)
    by_site = findings_by(q, "SITE").set_index("SITE")
    assert by_site.loc["SITE01", ["error", "warning", "total"]].tolist() == [1, 1, 2]
    assert by_site.loc["SITE02", "total"] == 1  # Q4 is resolved: not open
    assert by_site.loc["(none)", "warning"] == 1  # a drop finding has no site: named, not a blank row


def test_rules_have_descriptions():
    described = rules_described(findings_by(_queries(), "RULE")).set_index("RULE")["description"]
    assert described["RAW-EDC-DATE"].startswith("A date that does not exist")


def test_new_queries_of_the_night_are_listed():
    html = "".join(new_queries_section(_queries()))
    assert "New queries this night (3)" in html
    assert html.count("</tr>") == 4  # header + Q1, Q3, Q5


class _Data:
    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.frames = frames

    def get(self, domain: str) -> pd.DataFrame:
        return self.frames.get(domain, pd.DataFrame())


def test_completeness_is_not_applicable_where_not_scheduled():
    sv = pd.DataFrame({"USUBJID": ["S1", "S2", "S1", "S2"], "VISITNUM": [1.0, 1.0, 2.0, 2.0]})
    vs = pd.DataFrame({"USUBJID": ["S1"], "VSTESTCD": ["WEIGHT"], "VISITNUM": [1.0], "VSSTRESC": ["70"]})
    items = [CompletenessItem(domain="VS", test="WEIGHT", visits=["SCREENING"]),
             CompletenessItem(domain="VS", test="HEIGHT")]
    comp = completeness(_Data({"SV": sv, "VS": vs}), [(1.0, "SCREENING"), (2.0, "WEEK 1")], items)
    assert comp["VS WEIGHT"].tolist() == [50.0, NOT_SCHEDULED]  # 1 of 2 subjects seen; WEEK 1: not scheduled
    assert comp["VS HEIGHT"].tolist() == [0.0, 0.0]  # scheduled everywhere (no list): missing is 0 %


def _manifest(release: str, cut: str, errors: int) -> dict:
    return {"release": release, "data_cut": cut, "findings": {"by_severity": {"error": errors}}}


def test_trend_has_one_point_per_data_cut(tmp_path):
    for release, cut, errors in (("20260101T020000Z-aaaa", "2019-01-01", 5), ("20260101T090000Z-bbbb", "2019-01-01", 3),
                                 ("20260102T020000Z-cccc", "2019-01-02", 9)):
        (tmp_path / "releases" / release).mkdir(parents=True)
        (tmp_path / "releases" / release / "manifest.json").write_text(json.dumps(_manifest(release, cut, errors)))
    # this night's release re-builds the cut of 2019-01-02: it replaces the earlier release of that cut
    trend = release_trend(tmp_path, _manifest("20260103T020000Z-dddd", "2019-01-02", 4))
    assert trend[["data_cut", "release", "error"]].values.tolist() == [
        ["2019-01-01", "20260101T090000Z-bbbb", 3], ["2019-01-02", "20260103T020000Z-dddd", 4]]


def test_completeness_schedules_name_real_visits(study):
    """A misspelt visit in edit_checks.yaml would silently show n/a: every name must be a scheduled VISIT."""
    from transforms.config.quality import load_edit_check_config

    scheduled = {v.visit for v in study.visits if v.visitnum is not None}
    items = load_edit_check_config(study).completeness
    assert any(it.visits for it in items)
    assert not [(it.test, v) for it in items for v in it.visits or [] if v not in scheduled]
