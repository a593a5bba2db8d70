"""Streaming ODM ingest: shape, repeat keys, Remove transactions, bad values, unsafe and broken XML."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transforms.ingest.edc import SnapshotError, ingest_snapshot
from transforms.odm.metadata import load_metadata
from transforms.odm.safe_xml import UnsafeXMLError

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileType="Snapshot" FileOID="T" '
        'CreationDateTime="2018-06-30T23:00:05+08:00">\n'
        '<ClinicalData StudyOID="NCT03668171" MetaDataVersionOID="MDV.1">\n')
TAIL = "</ClinicalData>\n</ODM>\n"


def subject(key: str, body: str, site: str = "SITE01") -> str:
    return f'<SubjectData SubjectKey="{key}"><SiteRef LocationOID="{site}"/>{body}</SubjectData>\n'


def ae(repeat: int, items: str, tx: str = "") -> str:
    return (f'<ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="{repeat}"{tx}>{items}</ItemGroupData>')


def log(body: str) -> str:
    return f'<StudyEventData StudyEventOID="SE.LOG"><FormData FormOID="F.AE">{body}</FormData></StudyEventData>'


@pytest.fixture
def meta(study):
    return load_metadata(study.metadata_path)


def write(tmp_path: Path, text: str, name: str = "NCT03668171_ODM_20180630T230005.xml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_example_snapshot(examples, meta, tmp_path):
    src = examples / "edc" / "NCT03668171_ODM_20180115T230005.xml"
    before = src.read_bytes()
    r = ingest_snapshot(src, meta, tmp_path / "items.parquet")
    df = pd.read_parquet(tmp_path / "items.parquet")
    assert (r.subjects, r.items, r.removed) == (2, 75, 0)  # counted by hand from the example file
    assert len(df) == 75 and df["VALID"].all()
    ienm = df[df["IGOID"] == "IG.IENM"]
    assert ienm[["IGREPEAT", "VALUE"]].values.tolist() == [["1", "IN03"], ["2", "IN05"]]
    assert set(df["SITEID"]) == {"SITE01", "SITE02"}
    assert df.loc[df["ITEMOID"] == "I.EXSTDTC", "VALUE"].tolist() == ["2018-01-08T09:30", "2018-01-15T09:10"]
    assert src.read_bytes() == before  # landed input is never modified


def test_remove_transactions_at_item_and_group_level(meta, tmp_path):
    body = log(ae(1, '<ItemData ItemOID="I.AETERM" Value="Fever"/>'
                     '<ItemData ItemOID="I.AESEV" Value="2" TransactionType="Remove"/>')
               + ae(2, '<ItemData ItemOID="I.AETERM" Value="Rash"/>', ' TransactionType="Remove"'))
    p = write(tmp_path, HEAD + subject("01-001", body) + TAIL)
    r = ingest_snapshot(p, meta, tmp_path / "i.parquet")
    df = pd.read_parquet(tmp_path / "i.parquet")
    assert df[["IGREPEAT", "ITEMOID", "VALUE"]].values.tolist() == [["1", "I.AETERM", "Fever"]]
    assert r.removed == 2


def test_values_that_do_not_fit_the_ecrf_are_kept_but_not_valid(meta, tmp_path):
    body = log(ae(1, '<ItemData ItemOID="I.AETERM" Value="Fever"/><ItemData ItemOID="I.AESEV" Value="7"/>'
                     '<ItemData ItemOID="I.AESTDAT" Value="2018-02-30"/><ItemData ItemOID="I.NOPE" Value="x"/>'
                     '<ItemData ItemOID="I.AEENDAT" Value="2018-02"/>'))
    p = write(tmp_path, HEAD + subject("01-002", body) + TAIL)
    ingest_snapshot(p, meta, tmp_path / "i.parquet")
    df = pd.read_parquet(tmp_path / "i.parquet")
    assert df.set_index("ITEMOID")["VALID"].to_dict() == {"I.AETERM": True, "I.AESEV": False, "I.AESTDAT": False,
                                                           "I.NOPE": False, "I.AEENDAT": True}
    assert df.set_index("ITEMOID")["VALUE"]["I.AESEV"] == "7"  # kept as it came, for the query


def test_external_entities_are_refused(meta, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE ODM [<!ENTITY x SYSTEM "file://' + str(secret) + '">]>\n'
           + HEAD.split("\n", 1)[1] + subject("01-001", log(ae(1, '<ItemData ItemOID="I.AETERM" Value="&x;"/>')))
           + TAIL)
    p = write(tmp_path, xxe)
    with pytest.raises(UnsafeXMLError):
        ingest_snapshot(p, meta, tmp_path / "i.parquet")
    assert not (tmp_path / "i.parquet").exists()


def test_truncated_snapshot_is_blocking_with_line(meta, tmp_path):
    text = HEAD + subject("01-001", log(ae(1, '<ItemData ItemOID="I.AETERM" Value="Fever"/>'))) + TAIL
    p = write(tmp_path, text[: len(text) - 40])
    with pytest.raises(SnapshotError, match=r"not well-formed XML at line \d+"):
        ingest_snapshot(p, meta, tmp_path / "i.parquet")
    assert not (tmp_path / "i.parquet").exists() and not (tmp_path / "i.partial").exists()


def test_wrong_study_is_blocking(meta, tmp_path):
    p = write(tmp_path, HEAD.replace('StudyOID="NCT03668171"', 'StudyOID="OTHER"') + TAIL)
    with pytest.raises(SnapshotError, match="expected 'NCT03668171'"):
        ingest_snapshot(p, meta, tmp_path / "i.parquet")
