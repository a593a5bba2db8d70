"""`cdiscflow share` on a synthetic release with planted identifiers: nothing identifying survives in any
file of the package, every interval within a participant is unchanged, the package is reproducible,
and the command refuses what it must refuse."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cdiscflow_tools.synth import synthesize
from transforms.cli import app
from transforms.pipeline.run import run_pipeline
from transforms.share.apply import missing_rules
from transforms.share.rules import load_rules, load_share_config

N = 30
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "test-secret-0123456789abcdef"
STUDY = Path(__file__).resolve().parents[2] / "studies" / "nct03668171"
RULES = load_rules(STUDY / "share" / "deid_rules.csv")
CFG = load_share_config(STUDY / "share" / "share.yaml")
PLANTED = ["Li Wei", "Wang Fang", "张伟", "138-1234-5678", "13812345678", "li.wei@example.com",
           "610102199001011234", "7654321", "西安市长乐西路127号"]
runner = CliRunner()


@pytest.fixture(scope="module")
def release(tmp_path_factory, study) -> Path:
    """A 30-participant unblinded release (built once)."""
    drop = tmp_path_factory.mktemp("drop")
    synthesize(drop, subjects=N, seed=5, snapshots=1, unblinded=True, plant_errors=False)
    return run_pipeline(drop, tmp_path_factory.mktemp("out"), study, now=NOW, core=False).release


def _rewrite(release: Path, layer: str, name: str, df: pd.DataFrame, schema: pa.Schema) -> None:
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False).replace_schema_metadata(schema.metadata)
    pq.write_table(table, release / layer / f"{name}.parquet")
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    manifest["datasets"][name] = len(df)
    (release / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _read(path: Path) -> tuple[pd.DataFrame, pa.Schema]:
    table = pq.read_table(path)
    return table.to_pandas(), table.schema


@pytest.fixture(scope="module")
def planted(release, tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the release with identifiers typed into AE, MH, SUPPMH and a CO comment, and an age of 93."""
    rel = tmp_path_factory.mktemp("planted") / "release"
    shutil.copytree(release, rel)
    dm, _ = _read(rel / "sdtm" / "dm.parquet")
    one = dm[dm["RFICDTC"].notna()].iloc[0]
    usubjid, subjid, date = one["USUBJID"], one["SUBJID"], str(one["RFICDTC"])[:10]
    ae, schema = _read(rel / "sdtm" / "ae.parquet")
    ae.loc[0, "AETERM"] = "HEADACHE, told Dr. Li Wei on 138-1234-5678"
    ae.loc[1, "AETERM"] = f"RASH, same as {usubjid} ({subjid}), write to li.wei@example.com"
    ae.loc[2, "AETERM"] = f"FEVER since {date}, phone 13812345678"
    _rewrite(rel, "sdtm", "ae", ae, schema)
    mh, schema = _read(rel / "sdtm" / "mh.parquet")
    mh.loc[0, "MHTERM"] = "HEPATITIS B, ID 610102199001011234"
    _rewrite(rel, "sdtm", "mh", mh, schema)
    supp, schema = _read(rel / "sdtm" / "suppmh.parquet")
    supp.loc[0, "QVAL"] = "HBV reactivation, 患者张伟, 西安市长乐西路127号"
    _rewrite(rel, "sdtm", "suppmh", supp, schema)
    co = pd.DataFrame({"STUDYID": [one["STUDYID"]], "DOMAIN": ["CO"], "USUBJID": [usubjid], "COSEQ": [1],
                       "COVAL": [f"Patient name: Wang Fang, MRN 7654321, seen {date}"], "CODTC": [date]})
    co_schema = pa.schema([pa.field(c, pa.int64() if c == "COSEQ" else pa.large_string(), metadata={"label": c})
                           for c in co.columns], metadata={"dataset": "CO", "label": "Comments"})
    _rewrite(rel, "sdtm", "co", co, co_schema)
    for layer, name in (("sdtm", "dm"), ("adam", "adsl")):
        df, schema = _read(rel / layer / f"{name}.parquet")
        df.loc[df["USUBJID"] == usubjid, "AGE"] = 93.0
        _rewrite(rel, layer, name, df, schema)
    return rel, {"usubjid": usubjid, "subjid": subjid, "date": date}


def _share(release: Path, pkg: Path, key: Path, secret: str = SECRET, extra: tuple = ()) -> object:
    return runner.invoke(app, ["share", "--release", str(release), "--to", str(pkg), "--key-out", str(key), *extra],
                         env={"CDISCFLOW_SHARE_SECRET": secret})


@pytest.fixture(scope="module")
def shared(planted, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    base = tmp_path_factory.mktemp("shared")
    result = _share(planted[0], base / "pkg", base / "key.csv")
    assert result.exit_code == 0, result.output
    return base / "pkg", pd.read_csv(base / "key.csv", dtype=str)


def _datasets(folder: Path) -> dict[str, tuple[str, pa.Table]]:
    return {p.stem.upper(): (layer, pq.read_table(p)) for layer in ("sdtm", "adam")
            for p in sorted((folder / layer).glob("*.parquet"))}


def _all_text(pkg: Path) -> str:
    """Every byte of every file as text, and every Parquet value decoded (docs/ aside: checked byte-equal)."""
    parts = []
    for p in sorted(pkg.rglob("*")):
        if p.is_file() and p.parent.name != "docs":
            parts.append(p.read_bytes().decode("utf-8", errors="replace"))
            if p.suffix == ".parquet":
                parts += [str(v) for col in pq.read_table(p).columns for v in col.to_pylist()]
    return "\n".join(parts)


def test_every_variable_of_the_release_has_a_rule(release):
    tables = {n: t for n, (_, t) in _datasets(release).items()}
    assert missing_rules(tables, RULES) == []
    assert RULES.resolve("DM", "USUBJID").rule == "recode_subject"
    assert RULES.resolve("AE", "AETERM").rule == "redact_free_text"
    assert RULES.resolve("LB", "LBDY").rule == "study_day"
    assert RULES.resolve("ADSL", "TRTSDT").rule == "offset_date"


def test_no_identifier_subject_id_or_original_date_survives(planted, shared, release):
    pkg, key = shared
    text = _all_text(pkg)
    for planted_text in PLANTED:
        assert planted_text not in text
    originals = _datasets(release)
    ids = {v for _, table in originals.values() for var in ("USUBJID", "SUBJID") if var in table.column_names
           for v in table.column(var).to_pylist() if v}
    assert len(ids) >= 2 * N
    any_id = re.compile(r"(?<![0-9A-Za-z])(?:" + "|".join(map(re.escape, sorted(ids, key=len, reverse=True)))
                        + r")(?![0-9A-Za-z])")
    assert any_id.search(text) is None
    # Every shifted date lies at least 1827 days (share.yaml) before its original, so no date of the trial
    # window (from the first consent on) can appear in the package but as an original.
    dm = originals["DM"][1].to_pandas()
    window_start = min(str(d)[:10] for d in dm["RFICDTC"].dropna())
    found = set(re.findall(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)", text))
    original_dates = set()
    for _, table in originals.values():  # participant data (TS holds the CT version's date, no participant's)
        for col in table.column_names if "USUBJID" in table.column_names else []:
            original_dates |= {str(v)[:10] for v in table.column(col).to_pylist()
                               if isinstance(v, (str, dt.date)) and re.match(r"\d{4}-\d{2}-\d{2}", str(v)[:10])
                               and str(v)[:10] >= window_start}
    assert original_dates and not (found & original_dates)
    assert planted[1]["date"] not in text
    for doc in (pkg / "docs").iterdir():
        assert doc.read_bytes() == (STUDY / "docs" / doc.name).read_bytes()


def test_each_redaction_is_reported_without_its_text(shared):
    pkg, key = shared
    reds = pd.read_csv(pkg / "deid" / "redactions.csv", dtype=str)
    where = set(zip(reds["dataset"], reds["variable"], strict=True))
    assert {("AE", "AETERM"), ("MH", "MHTERM"), ("SUPPMH", "QVAL:ADTRIG"), ("CO", "COVAL")} <= where
    ae = reds[reds["variable"] == "AETERM"]
    assert set(ae["usubjid"]) <= set(key["SHARED_USUBJID"])
    kinds = " ".join(reds["kinds"])
    for kind in ("name", "phone number", "e-mail", "national ID", "identifier", "date", "address", "ID number"):
        assert kind in kinds
    assert pd.read_parquet(pkg / "sdtm" / "ae.parquet")["AETERM"].str.contains(r"\[REDACTED\]", regex=True).sum() == 3


def _aligned(original: pa.Table, shared: pa.Table, key: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Original and shared rows side by side: the original ordered by its participants' new ids (stable)."""
    new = dict(zip(key["USUBJID"], key["SHARED_USUBJID"], strict=True))
    o = original.to_pandas()
    o["_NEW"] = o["USUBJID"].map(new)
    o = o.sort_values("_NEW", kind="stable").reset_index(drop=True)
    s = shared.to_pandas()
    assert list(o["_NEW"]) == list(s["USUBJID"])
    return o, s


def _as_date(v: object) -> dt.date | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    text = str(v)
    return dt.date.fromisoformat(text[:10]) if re.match(r"\d{4}-\d{2}-\d{2}", text) else None


def test_every_date_moves_by_the_participants_one_offset_and_days_are_unchanged(planted, shared):
    pkg, key = shared
    offset = dict(zip(key["SHARED_USUBJID"], key["DATE_OFFSET_DAYS"].astype(int), strict=True))
    assert all(CFG.offset_days.min_days <= d <= CFG.offset_days.max_days for d in offset.values())
    originals, packaged = _datasets(planted[0]), _datasets(pkg)
    checked = 0
    for name, (_, table) in originals.items():
        if "USUBJID" not in table.column_names:
            continue
        o, s = _aligned(table, packaged[name][1], key)
        for var in table.column_names:
            rule = RULES.resolve(name, var)
            if rule is None or var not in s.columns:
                continue
            if rule.rule == "offset_date":
                for a, b, u in zip(o[var], s[var], s["USUBJID"], strict=True):
                    da, db = _as_date(a), _as_date(b)
                    if da is not None:
                        assert (db - da).days == offset[u], f"{name}.{var}"
                        checked += 1
                    elif isinstance(a, str):
                        assert len(a) == len(b)  # a partial date keeps its precision
            elif rule.rule == "study_day" or var in ("AVAL", "TRTDURD"):
                assert o[var].equals(s[var]), f"{name}.{var}"
    assert checked > 1000


def test_every_adtte_aval_equals_the_unshared_one(release, shared):
    pkg, key = shared
    new = dict(zip(key["USUBJID"], key["SHARED_USUBJID"], strict=True))
    before = pd.read_parquet(release / "adam" / "adtte.parquet")
    after = pd.read_parquet(pkg / "adam" / "adtte.parquet")
    before = before.assign(USUBJID=before["USUBJID"].map(new)).set_index(["USUBJID", "PARAMCD"])["AVAL"].sort_index()
    after = after.set_index(["USUBJID", "PARAMCD"])["AVAL"].sort_index()
    pd.testing.assert_series_equal(before, after)


def test_direct_identifiers_ages_and_sites(planted, shared):
    pkg, _ = shared
    dm = pd.read_parquet(pkg / "sdtm" / "dm.parquet")
    adsl = pd.read_parquet(pkg / "adam" / "adsl.parquet")
    assert "BRTHDTC" not in dm.columns
    assert dm["AGE"].max() == 90 and adsl["AGE"].max() == 90  # 93 -> 90 (cap 89 + 1)
    assert set(dm["SITEID"]) == set(adsl["SITEID"]) == {CFG.sites.pooled_value}
    assert set(dm["SUBJID"]) == {u.rsplit("-", 1)[1] for u in dm["USUBJID"]}
    assert set(pd.read_parquet(pkg / "sdtm" / "ts.parquet")["TSPARMCD"]).isdisjoint({"SSTDTC", "DCUTDTC", "SENDTC"})
    k = pd.read_csv(pkg / "deid" / "k_anonymity_records.csv")
    assert len(k) == len(dm) and (k.groupby(["AGEGROUP", "SEX", "SITEID"])["K"].transform("size") == k["K"]).all()


def test_labels_travel_and_csv_is_formula_safe(release, shared):
    pkg, _ = shared
    for layer in ("sdtm", "adam"):
        for p in (release / layer).glob("*.parquet"):
            before, after = pq.read_schema(p), pq.read_schema(pkg / layer / p.name)
            assert after.metadata == before.metadata
            for f in after:
                assert f.metadata == before.field(f.name).metadata
    csv = (pkg / "sdtm" / "ae.csv").read_text(encoding="utf-8")
    assert not re.search(r"(^|,)[=+@]", csv, re.M)


def test_sha256sums_verify(shared):
    pkg, _ = shared
    listed = (pkg / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    assert len(listed) == sum(1 for p in pkg.rglob("*") if p.is_file()) - 1
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=pkg).returncode == 0


def test_same_release_and_secret_give_the_same_bytes_another_secret_other_offsets(planted, shared, tmp_path):
    pkg, key = shared
    assert _share(planted[0], tmp_path / "again", tmp_path / "key2.csv").exit_code == 0
    files = sorted(p.relative_to(pkg) for p in pkg.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    for rel in files:
        assert (pkg / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel
    assert _share(planted[0], tmp_path / "other", tmp_path / "key3.csv", secret=SECRET + "x").exit_code == 0
    other = pd.read_csv(tmp_path / "key3.csv", dtype=str).set_index("USUBJID")["DATE_OFFSET_DAYS"]
    assert (key.set_index("USUBJID")["DATE_OFFSET_DAYS"] != other).sum() > N // 2


def test_refusals_exit_2_and_write_nothing(planted, tmp_path):
    rel = tmp_path / "release"
    shutil.copytree(planted[0], rel)
    # no secret
    r = runner.invoke(app, ["share", "--release", str(rel), "--to", str(tmp_path / "p0"), "--key-out",
                            str(tmp_path / "k0")], env={"CDISCFLOW_SHARE_SECRET": ""})
    assert r.exit_code == 2 and "secret" in r.output
    # key file inside the package
    r = _share(rel, tmp_path / "p1", tmp_path / "p1" / "key.csv")
    assert r.exit_code == 2 and "outside the package" in r.output
    # a variable without a rule, and a supplemental qualifier without a rule
    ae, schema = _read(rel / "sdtm" / "ae.parquet")
    _rewrite(rel, "sdtm", "ae", ae.assign(AEXNEW="x"), schema.append(pa.field("AEXNEW", pa.large_string())))
    r = _share(rel, tmp_path / "p2", tmp_path / "k2")
    assert r.exit_code == 2 and "AE.AEXNEW" in r.output
    shutil.copy2(planted[0] / "sdtm" / "ae.parquet", rel / "sdtm" / "ae.parquet")
    supp, schema = _read(rel / "sdtm" / "suppdm.parquet")
    supp.loc[0, "QNAM"] = "NEWQ"
    _rewrite(rel, "sdtm", "suppdm", supp, schema)
    _rewrite(rel, "sdtm", "ae", pd.read_parquet(rel / "sdtm" / "ae.parquet"), pq.read_schema(rel / "sdtm" / "ae.parquet"))
    r = _share(rel, tmp_path / "p3", tmp_path / "k3")
    assert r.exit_code == 2 and "SUPPDM.QVAL:NEWQ" in r.output
    shutil.copy2(planted[0] / "sdtm" / "suppdm.parquet", rel / "sdtm" / "suppdm.parquet")
    # a manifest that does not match the files
    manifest = json.loads((rel / "manifest.json").read_text(encoding="utf-8"))
    manifest["datasets"]["lb"] += 1
    (rel / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    r = _share(rel, tmp_path / "p4", tmp_path / "k4")
    assert r.exit_code == 2 and "does not match" in r.output
    # a blinded release
    manifest["datasets"]["lb"] -= 1
    manifest["blinded"] = True
    (rel / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    r = _share(rel, tmp_path / "p5", tmp_path / "k5")
    assert r.exit_code == 2 and "blinded" in r.output
    # a package folder that is not empty
    (tmp_path / "p6").mkdir()
    (tmp_path / "p6" / "x").write_text("x", encoding="utf-8")
    manifest["blinded"] = False
    (rel / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    r = _share(rel, tmp_path / "p6", tmp_path / "k6")
    assert r.exit_code == 2 and "not an empty folder" in r.output
    assert not any((tmp_path / f"p{i}").exists() for i in range(6))
    assert not any((tmp_path / f"k{i}").exists() for i in range(7))
    assert not list(tmp_path.glob(".*staging"))


def test_package_carries_dataset_json_define_xml_and_dictionary_of_the_shared_data(shared):
    import jsonschema
    from lxml import etree

    from transforms.publish.dataset_json import dataset_json_schema
    from transforms.publish.define_xml import define_schema_path

    pkg, _ = shared
    xsd = etree.XMLSchema(etree.parse(str(define_schema_path())))
    for layer in ("sdtm", "adam"):
        names = {p.stem.upper() for p in (pkg / layer).glob("*.parquet")}
        assert names and names == {p.stem.upper() for p in (pkg / layer).glob("*.json")}
        define = etree.parse(str(pkg / layer / "define.xml"))
        assert xsd.validate(define), xsd.error_log
        described = {e.get("Name") for e in define.iter("{http://www.cdisc.org/ns/odm/v1.3}ItemGroupDef")}
        assert names <= described
        for p in (pkg / layer).glob("*.json"):
            doc = json.loads(p.read_text(encoding="utf-8"))
            jsonschema.validate(doc, dataset_json_schema())
            if "USUBJID" in [c["name"] for c in doc["columns"]]:
                i = [c["name"] for c in doc["columns"]].index("USUBJID")
                assert all(re.fullmatch(r"NCT03668171-P\d{3,}", row[i]) for row in doc["rows"])  # new ids only
    assert (pkg / "reports" / "data_dictionary.html").is_file()


def test_a_shared_release_is_pinned_against_retention(planted, shared):
    from transforms.publish.retention import is_pinned

    pkg, _ = shared
    digest = hashlib.sha256((pkg / "SHA256SUMS").read_bytes()).hexdigest()
    assert is_pinned(planted[0])
    assert f"package {digest}" in (planted[0] / "SHARED").read_text(encoding="utf-8").splitlines()


def test_the_share_dag_task_builds_the_package_and_rejects_a_blinded_release(planted, shared, tmp_path, monkeypatch):
    from transforms.orchestration.messages import RejectedInput
    from transforms.orchestration.share import build_share_package

    monkeypatch.setenv("CDISCFLOW_SHARE_SECRET", SECRET)
    result = build_share_package(str(STUDY), tmp_path, {"release": str(planted[0]), "to": str(tmp_path / "pkg"),
                                                         "key_out": str(tmp_path / "key.csv")})
    assert result["participants"] == N
    assert (tmp_path / "pkg" / "SHA256SUMS").read_bytes() == (shared[0] / "SHA256SUMS").read_bytes()
    blinded = tmp_path / "blinded"
    shutil.copytree(planted[0], blinded)
    manifest = json.loads((blinded / "manifest.json").read_text(encoding="utf-8"))
    (blinded / "manifest.json").write_text(json.dumps(manifest | {"blinded": True}), encoding="utf-8")
    with pytest.raises(RejectedInput, match="blinded"):
        build_share_package(str(STUDY), tmp_path, {"release": str(blinded), "to": str(tmp_path / "p2"),
                                                    "key_out": str(tmp_path / "k2.csv")})
    assert not (tmp_path / "p2").exists()


def test_a_damaged_dataset_in_the_release_is_exit_2(planted, tmp_path):
    rel = tmp_path / "release"
    shutil.copytree(planted[0], rel)
    path = rel / "sdtm" / "ae.parquet"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated, as a full disk leaves it
    r = _share(rel, tmp_path / "pkg", tmp_path / "key.csv")
    assert r.exit_code == 2 and "cannot be read" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "pkg").exists() and not (tmp_path / "key.csv").exists()
