"""Privacy: the free-text scrubber, specimen pseudonyms, GX results and Data Docs (hand-written cases)."""
from __future__ import annotations

import pandas as pd
import pytest

from transforms.privacy.pseudonym import DEFAULT_KEY, pseudonym_key, pseudonymise, pseudonymise_specimens
from transforms.privacy.scrub import (
    BIRTH_DATE, EMAIL, IDENTIFIER, NATIONAL_ID, PHONE, REDACTED, Scrubber, describe, scrub_findings)
from transforms.cdisc.findings import WARNING, Finding, Findings

# Two subjects of a drop: the scrubber must know both, whichever record it reads.
OPENSSL_HMAC = "b4970f55cb9f3b0bf416712124bbd2be93aba9995d4017aa690a00cea1db628c"
DROP = Scrubber(["0010000001", "M778812", "LL", "WF", "李雷", "韩梅梅"])


@pytest.mark.parametrize("text, planted, kind", [
    ("Rash, call 138.1234.5678", "138.1234.5678", PHONE),
    ("Rash, call 138 1234 5678", "138 1234 5678", PHONE),
    ("Rash, call 138-1234-5678", "138-1234-5678", PHONE),
    ("Rash, call (010) 8888-1234", "(010) 8888-1234", PHONE),
    ("Rash, call +86 138 1234 5678", "+86 138 1234 5678", PHONE),
    ("Rash, call +86-13812345678", "+86-13812345678", PHONE),
    ("皮疹 电话１３８１２３４５６７８", "１３８１２３４５６７８", PHONE),          # full-width digits
    ("皮疹 电话（０１０）８８８８１２３４", "（０１０）８８８８１２３４", PHONE),  # full-width brackets
    ("Nausea, daughter jane.doe@example.com", "jane.doe@example.com", EMAIL),
    ("Nausea, daughter ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", EMAIL),
    ("Fever ID 11010519491231002X", "11010519491231002X", NATIONAL_ID),
    ("Fever ID 110105194912310021", "110105194912310021", NATIONAL_ID),
    ("Fever, DOB 1969-03-12", "DOB 1969-03-12", BIRTH_DATE),
    ("Fever, date of birth: 12/03/1969", "date of birth: 12/03/1969", BIRTH_DATE),
    ("发热 出生日期1969年3月12日", "出生日期1969年3月12日", BIRTH_DATE),
    ("Ascites (pt 0010000001)", "0010000001", IDENTIFIER),        # an MRN of the drop
    ("Ascites, see M778812", "M778812", IDENTIFIER),               # another subject's MRN
    ("Ascites, see m778812", "m778812", IDENTIFIER),
    ("Ascites reported by WF", "WF", IDENTIFIER),                  # another subject's initials
    ("腹水 患者韩梅梅", "韩梅梅", IDENTIFIER),                       # another subject's LIS name
])
def test_scrubber_removes_planted_identifier(text, planted, kind):
    out, kinds = DROP.scrub(text)
    assert planted not in out and REDACTED in out
    assert kinds[kind] == 1 and sum(kinds.values()) == 1
    assert out == text.replace(planted, REDACTED)  # the rest of the text is kept as typed


@pytest.mark.parametrize("text", [
    "ALLERGY TO PENICILLIN",          # holds "LL" inside a word: not the initials
    "Hepatic encephalopathy grade 2",
    "Onset 2018-01-05, resolved 2018.01.12",  # dates are not phone numbers
    "Bilirubin 256.3 umol/L",
    "WBC 3.5 x 10^9/L",
    "腹水，见备注（溶血）",               # full-width punctuation stays as typed
    "",
])
def test_scrubber_keeps_clinical_text(text):
    assert DROP.scrub(text) == (text, {})


def test_scrubber_counts_every_removal_and_describes_without_values():
    out, kinds = DROP.scrub("李雷 138.1234.5678 / a@b.cn / 0010000001")
    assert out == f"{REDACTED} {REDACTED} / {REDACTED} / {REDACTED}"
    assert kinds == {IDENTIFIER: 2, PHONE: 1, EMAIL: 1}
    assert describe(kinds) == "1 e-mail, 2 identifier(s), 1 phone number"


def test_scrub_findings_guards_value_and_message():
    f = Finding(WARNING, "X", "f.csv", "line 2", "result", "see M778812", value="call 13812345678")
    out = scrub_findings(Findings([f]), DROP).items[0]
    assert out.value == f"call {REDACTED}" and out.message == f"see {REDACTED}"


def test_pseudonym_is_keyed_stable_and_hides_the_number(monkeypatch):
    monkeypatch.delenv("CDISCFLOW_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("CDISCFLOW_PSEUDONYM_KEY_NCT03668171", raising=False)
    assert pseudonym_key("NCT03668171") == DEFAULT_KEY.encode()
    # HMAC-SHA256("k", "S0010000001-01"), first 16 hex digits, worked out with openssl:
    #   printf 'S0010000001-01' | openssl dgst -sha256 -hmac k
    expected = "SPEC-" + OPENSSL_HMAC[:16].upper()
    assert pseudonymise("S0010000001-01", b"k") == expected
    assert pseudonymise(" S0010000001-01 ", b"k") == expected  # stable whatever the padding
    assert "0010000001" not in expected
    s = pd.Series(["S0010000001-01", "A180312001", ""], dtype="string")
    a = pseudonymise_specimens(s, "NCT03668171")
    assert a.tolist() == pseudonymise_specimens(s, "NCT03668171").tolist()  # stable across nights
    assert a[2] == "" and a[0] != a[1]
    monkeypatch.setenv("CDISCFLOW_PSEUDONYM_KEY_NCT03668171", "other secret")
    assert pseudonymise_specimens(s, "NCT03668171")[0] != a[0]  # another key, other pseudonyms


PLANTED_MARKUP = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


def _raw_site02(results: list[str]) -> pd.DataFrame:
    from transforms.ingest.lab import PRINTED

    rows = [{"SITEID": "SITE02", "MRN": "M778812", "SPECID": "A180312001", "COLLDTM": "03/12/2018 07:30",
             "REPORTDTM": "03/12/2018 10:30", "COLLDTC": "2018-03-12T07:30", "REPORTDTC": "2018-03-12T10:30",
             "TEST": "TBIL", "RESULT": r, "UNIT": "mg/dL", "RANGE_LOW": "0.2", "RANGE_HIGH": "1.2", "FLAG": "",
             "STATUS": "F", "SRCFILE": "labs_2018-03-12.csv", "SRCLINE": i + 2} for i, r in enumerate(results)]
    return pd.DataFrame(rows, columns=PRINTED).astype({c: "string" for c in PRINTED if c != "SRCLINE"})


def test_data_docs_escape_markup_hide_identifiers_and_work_offline(study, tmp_path):
    import re

    from transforms.quality.gx_runner import build_data_docs
    from transforms.quality.validate import validate_raw_lab

    comment = "see note, call Zhang 138.1234.5678"
    raw = _raw_site02([*PLANTED_MARKUP, comment, "5.5"])
    scrubber = Scrubber(["M778812"])
    findings = validate_raw_lab(raw, study, "SITE02", {"M778812": "02-001"}, tmp_path / "results", scrubber)
    # The planted values fail the result check; the phone number is scrubbed from the finding as well.
    values = {f.value for f in findings if f.rule == "RAW-LIS-RESULT"}
    assert set(PLANTED_MARKUP) <= values and f"see note, call Zhang {REDACTED}" in values
    assert not any("A180312001" in f.record + f.key for f in findings)  # specimen only as its pseudonym
    index = build_data_docs(study, tmp_path / "results", tmp_path / "gx", "run1")
    pages = list((tmp_path / "gx").rglob("*.html"))
    assert index in pages and len(pages) >= 2
    for p in pages:
        text = p.read_text(encoding="utf-8")
        assert "<script" not in text.lower(), p                 # neither GX's nor a planted one
        assert not re.search(r"<img[^>]*onerror", text, re.I), p
        assert "alert(1)" not in text or "&lt;" in text, p
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text, re.I), p
        assert not re.search(r"<(?:link|img|script)[^>]*(?:https?:)?//", text, re.I), p
        for secret in ("138.1234.5678", "M778812", "A180312001"):
            assert secret not in text, (p, secret)
    for p in (tmp_path / "results").glob("*.json"):
        raw_json = p.read_text(encoding="utf-8")
        assert "138.1234.5678" not in raw_json and "A180312001" not in raw_json and "M778812" not in raw_json
    assert "raw_lab_site02" in index.read_text(encoding="utf-8")


PLANTED_AE = "Fever, wife jane.doe@example.com, tel 138.1234.5678, see M778812"
PLANTED_LIS = "见备注 李雷 电话 139-8765-4321"
SECRETS = ["jane.doe@example.com", "138.1234.5678", "13812345678", "M778812", "0010000001", "139-8765-4321",
           "13987654321", "李雷", "S20180105-001", "A180312001"]


def _values(p) -> set[str]:
    import pandas as pd

    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_excel(p, dtype=str, sheet_name=None)
    frames = df.values() if isinstance(df, dict) else [df]
    return {str(v) for f in frames for c in f.columns for v in [c, *f[c].dropna()]}


def test_no_planted_identifier_in_any_output_byte(study, examples, tmp_path):
    """Example drop with an e-mail, a phone and another subject's MRN in an AE term, and a LIS comment
    with a name and a phone number: none of them (nor an MRN or a specimen number) in the release."""
    import shutil
    from datetime import UTC, datetime

    from transforms.pipeline.run import run_pipeline

    drop = tmp_path / "drop"
    shutil.copytree(examples, drop)
    xml = next((drop / "edc").glob("*.xml"))
    text = xml.read_text(encoding="utf-8")
    assert 'ItemOID="I.AETERM" Value="Fever"' in text
    xml.write_text(text.replace('ItemOID="I.AETERM" Value="Fever"', f'ItemOID="I.AETERM" Value="{PLANTED_AE}"'),
                   encoding="utf-8")
    lis = drop / "lab" / "SITE01" / "LIS_SITE01_20180105.csv"
    lines = lis.read_bytes().decode("gb18030").split("\r\n")
    fields = lines[1].split(",")
    fields[5] = PLANTED_LIS  # the result column: a comment instead of a number
    lines[1] = ",".join(fields)
    lis.write_bytes("\r\n".join(lines).encode("gb18030"))

    release = run_pipeline(drop, tmp_path / "out", study, now=datetime(2026, 1, 1, 2, 0, tzinfo=UTC)).release
    ae = pd.read_parquet(release / "sdtm" / "ae.parquet")
    assert f"Fever, wife {REDACTED}, tel {REDACTED}, see {REDACTED}" in set(ae["AETERM"])
    lb = pd.read_parquet(release / "sdtm" / "lb.parquet")
    assert f"见备注 {REDACTED} 电话 {REDACTED}" in set(lb["LBORRES"])
    assert lb["LBREFID"].str.match(r"^SPEC-[0-9A-F]{16}$").all()
    findings = pd.read_csv(release / "reports" / "findings.csv", dtype=str).fillna("")
    scrubs = findings[findings["RULE"] == "PRIVACY-FREE-TEXT"]
    assert set(scrubs["DOMAIN"]) >= {"AE", "LB"}
    checked = 0
    for p in sorted(release.rglob("*")):
        if not p.is_file():
            continue
        checked += 1
        if p.suffix in (".parquet", ".xlsx"):
            values = "\n".join(_values(p))
            assert not [s for s in SECRETS if s in values], p
        else:
            data = p.read_bytes()
            assert not [s for s in SECRETS if s.encode("utf-8") in data], p
            if p.suffix == ".xpt":
                assert "李雷".encode("gb18030") not in data and "李雷".encode("utf-8") not in data, p
    assert checked > 40


def test_compound_key_results_are_scrubbed_and_escaped_at_every_leaf():
    """Compound-key expectations report dicts of values: each string leaf is scrubbed and escaped."""
    from transforms.privacy.scrub import Scrubber
    from transforms.quality.gx_runner import redact_result

    payload = "<img src=x onerror=alert(1)>"
    result = {"expectation_config": {"meta": {"show_value": True}},
              "result": {"partial_unexpected_list": [{"USUBJID": "S-1", "AETERM": payload},
                                                     {"USUBJID": "S-2", "AETERM": "call 0010000001"}],
                         "partial_unexpected_counts": [{"value": {"AETERM": payload}, "count": 2}],
                         "observed_value": [payload]}}
    body = redact_result(result, Scrubber(["0010000001"]))["result"]
    text = repr(body)
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "0010000001" not in text
    assert body["partial_unexpected_counts"][0]["count"] == 2
    hidden = redact_result({"expectation_config": {"meta": {"show_value": False}},
                            "result": {"observed_value": ["0010000001"]}}, Scrubber())["result"]
    assert hidden["observed_value"] == "(hidden)"


def test_caseless_lookalikes_are_every_non_ascii_character_an_ascii_letter_matches():
    import re
    import sys

    from transforms.privacy.scrub import CASELESS_ASCII_LOOKALIKES

    letter = re.compile("[A-Za-z]", re.IGNORECASE)
    scanned = {chr(cp) for cp in range(128, sys.maxunicode + 1)
               if not 0xD800 <= cp <= 0xDFFF and letter.fullmatch(chr(cp))}
    assert scanned == set(CASELESS_ASCII_LOOKALIKES)


def test_matching_only_the_identifiers_a_text_can_hold_changes_no_scrub():
    # The scrubber leaves out identifiers a text does not hold; against one regex of every
    # identifier (what it stands for) the result must be the same on texts mixing case, width, overlaps,
    # initials inside words, Chinese names and the characters an ASCII letter matches regardless of case.
    import random
    import re

    from transforms.privacy.scrub import Scrubber

    idents = ["ZWL", "LM", "ab", "A1234567", "0012345", "00123456", "Wang Fang", "wei li", "KS", "SK-0042",
              "张伟", "李明华", "明华", "Li Ming"]
    fast = Scrubber(idents)
    every = re.compile("|".join(fast._parts))

    class Reference(Scrubber):
        def _identifier_pattern(self, norm):
            return every

    slow = Reference(idents)
    pieces = [*idents, *(i.lower() for i in idents), *(i.swapcase() for i in idents), "ALLERGY", "LMN", " ", "-",
              "x", "1", "9", "\u0131", "\u0130", "\u017f", "\u212a", "Ｗａｎｇ Ｆａｎｇ", "００１２３４５", "先生",
              "wang", "fang", "A123456", "7"]
    rng = random.Random(20261207)
    hits = 0
    for _ in range(4000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        got = fast.scrub(text)
        assert got == slow.scrub(text), text
        hits += bool(got[1])
    assert 1000 < hits < 4000  # both texts with and without identifiers were tried
