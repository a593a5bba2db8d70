"""The README's analyst snippet for ADaM dates runs on a release and gives real dates (not Python objects)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- analyst-dates:[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "the README's analyst-dates block is missing"
    return m.group(1)


def test_documented_date_reading_works(synthetic_run, tmp_path, monkeypatch):
    out = synthetic_run[1]
    (tmp_path / "out").symlink_to(out)
    monkeypatch.chdir(tmp_path)
    # the problem the README describes: pandas' default backend gives Python objects
    assert pd.read_parquet("out/current/adam/adsl.parquet")["TRTSDT"].dtype == object
    scope: dict = {"pd": pd}
    exec(compile(_snippet(), "README.md analyst-dates", "exec"), scope)
    years = scope["first_dose_year"].dropna()
    assert len(years) > 0 and ((years >= 2017) & (years <= 2030)).all()  # the trial started 2017-12-10
    converted = scope["adsl_np"]["TRTSDT"]
    assert pd.api.types.is_datetime64_any_dtype(converted)
    assert converted.dt.year.dropna().astype(int).tolist() == years.astype(int).tolist()


@pytest.mark.parametrize("reader", ["polars", "duckdb"])
def test_polars_and_duckdb_read_dates_as_dates(synthetic_release, reader):
    path = str(synthetic_release / "adam" / "adsl.parquet")
    if reader == "polars":
        pl = pytest.importorskip("polars")
        assert pl.read_parquet(path).schema["TRTSDT"] == pl.Date
    else:
        duckdb = pytest.importorskip("duckdb")
        rel = duckdb.sql(f"select * from '{path}' limit 0")
        assert str(dict(zip(rel.columns, rel.types, strict=True))["TRTSDT"]) == "DATE"
