"""Independent QC derivations for NCT03668171 (MSC vs placebo in ACLF).

Self-contained reference implementation (pandas + lxml + stdlib only) written from
protocol.md (the SAP rules), the EDC/LIS export contracts and ADaMIG 1.3 alone.

Public entry point::

    derive_all(drop: pathlib.Path, metadata_xml: pathlib.Path) -> dict[str, pandas.DataFrame]

returning ``adsl``, ``adtte``, ``adrs``, ``adlb``, ``adae`` and ``notes``.

Definitions the protocol leaves to the programmer (all listed in README.md):

* ``MELDSCR`` (ADSL): the MELD derived, with the protocol's same-day rule (latest numeric
  result of each of creatinine, total bilirubin and INR collected that day), from the samples
  collected on the *Screening visit date*.  The Screening visit date is the date of the
  Screening clinical assessment (SE.SCR ``I.CLDAT``), else the Screening vital-signs date
  (``I.VSDAT``), else the informed-consent date (``I.ICDAT``).  Missing when that day lacks
  one of the three inputs.  A disagreement with ``I.STRAT`` is reported in ``notes``.
* ``MELDBL`` (ADSL): AVAL of the ADLB MELD record flagged ``ABLFL = "Y"``.

ADLB ``PARAMCD`` (CDISC SDTM LBTESTCD) by LIS test:

=====================  ==========  ============  ========  ==========================
test                   site 01     site 02       PARAMCD   AVAL unit (protocol SI)
=====================  ==========  ============  ========  ==========================
total bilirubin        总胆红素     TBIL          BILI      umol/L (mg/dL x 17.1)
direct bilirubin       直接胆红素   DBIL          BILDIR    umol/L (mg/dL x 17.1)
ALT                    丙氨酸...    ALT           ALT       U/L
AST                    天门冬...    AST           AST       U/L
albumin                白蛋白       ALB           ALB       g/L (g/dL x 10)
creatinine             肌酐         CREA          CREAT     umol/L (mg/dL x 88.4)
INR                    国际标准化比值 INR          INR       ratio
prothrombin time       凝血酶原时间  PT            PT        s
prothrombin activity   凝血酶原活动度 PTA          PTA       %  (no CT code confirmed;
                                                            sponsor-defined code)
sodium                 钠           NA            SODIUM    mmol/L
white cells            白细胞计数    WBC           WBC       10^9/L (K/uL x 1)
platelets              血小板计数    PLT           PLAT      10^9/L (K/uL x 1)
haemoglobin            血红蛋白      HGB           HGB       g/L (g/dL x 10)
ammonia                血氨         NH3           AMMONIA   umol/L
alpha-fetoprotein      甲胎蛋白      AFP           AFP       ng/mL (= ug/L)
lactate dehydrogenase  乳酸脱氢酶    LDH           LDH       U/L  (not in the contract;
                                                            kept, see notes)
derived MELD score     -            -             MELD      score
=====================  ==========  ============  ========  ==========================

ADAE ``ASTDT`` imputation (ADaMIG-style, conservative towards treatment emergence):
complete dates are used as is; ``YYYY-MM`` -> the first day of the month, or the first
infusion date (TRTSDT) when TRTSDT falls in that month; ``YYYY`` -> 1 January, or TRTSDT when
TRTSDT falls in that year; the TRTSDT choice is dropped (first day of the period is used)
when a complete AE end date lies before TRTSDT.  A fully missing start date is not imputed.
``AENDT``: complete dates as is; ``YYYY-MM`` -> last day of the month, ``YYYY`` -> 31
December, capped at the death date.
"""
from __future__ import annotations

import csv
import io
import pathlib
import re

import numpy as np
import pandas as pd
from lxml import etree

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
_N = {"odm": ODM_NS}

# ----------------------------------------------------------------------------------------
# Protocol constants
# ----------------------------------------------------------------------------------------
WINDOWS = [  # (AVISIT, target day, low, high) on study day
    ("Week 1", 8, 2, 11),
    ("Week 2", 15, 12, 21),
    ("Week 4", 29, 22, 42),
    ("Week 8", 57, 43, 70),
    ("Week 12", 85, 71, 98),
]
CUTOFF_DAYS = 84  # 12-week endpoints: randomization date + 84 days
BILI_MGDL = 17.1  # umol/L per mg/dL
CREAT_MGDL = 88.4

SITE01_COLS = ["病历号", "姓名", "标本号", "采样时间", "检验项目", "结果", "单位", "参考范围", "异常标志", "报告时间"]
SITE02_COLS = ["PatientID", "AccessionNo", "CollectedAt", "TestCode", "TestName", "Result", "Units",
               "RefLow", "RefHigh", "Flag", "Status", "ResultedAt"]

TEST_TO_PARAMCD = {
    # site 01 (Chinese test names)
    "总胆红素": "BILI", "直接胆红素": "BILDIR", "丙氨酸氨基转移酶": "ALT", "天门冬氨酸氨基转移酶": "AST",
    "白蛋白": "ALB", "肌酐": "CREAT", "国际标准化比值": "INR", "凝血酶原时间": "PT", "凝血酶原活动度": "PTA",
    "钠": "SODIUM", "白细胞计数": "WBC", "血小板计数": "PLAT", "血红蛋白": "HGB", "血氨": "AMMONIA",
    "甲胎蛋白": "AFP", "乳酸脱氢酶": "LDH",
    # site 02 (TestCode)
    "TBIL": "BILI", "DBIL": "BILDIR", "ALT": "ALT", "AST": "AST", "ALB": "ALB", "CREA": "CREAT",
    "INR": "INR", "PT": "PT", "PTA": "PTA", "NA": "SODIUM", "WBC": "WBC", "PLT": "PLAT", "HGB": "HGB",
    "NH3": "AMMONIA", "AFP": "AFP", "LDH": "LDH",
}
CONTRACT_TESTS = set(TEST_TO_PARAMCD) - {"乳酸脱氢酶", "LDH"}


def _unit_key(u: str) -> str:
    return u.strip().replace("μ", "u").replace("µ", "u").lower()


# (PARAMCD, normalised printed unit) -> factor to the protocol's SI unit
UNIT_FACTORS = {
    ("BILI", "umol/l"): 1.0, ("BILI", "mg/dl"): BILI_MGDL,
    ("BILDIR", "umol/l"): 1.0, ("BILDIR", "mg/dl"): BILI_MGDL,
    ("CREAT", "umol/l"): 1.0, ("CREAT", "mg/dl"): CREAT_MGDL,
    ("ALB", "g/l"): 1.0, ("ALB", "g/dl"): 10.0,
    ("HGB", "g/l"): 1.0, ("HGB", "g/dl"): 10.0,
    ("WBC", "10^9/l"): 1.0, ("WBC", "k/ul"): 1.0,
    ("PLAT", "10^9/l"): 1.0, ("PLAT", "k/ul"): 1.0,
    ("SODIUM", "mmol/l"): 1.0, ("SODIUM", "meq/l"): 1.0,
    ("ALT", "u/l"): 1.0, ("AST", "u/l"): 1.0, ("LDH", "u/l"): 1.0,
    ("INR", ""): 1.0, ("PT", "s"): 1.0, ("PT", "sec"): 1.0, ("PTA", "%"): 1.0,
    ("AMMONIA", "umol/l"): 1.0, ("AFP", "ng/ml"): 1.0,
}

_NUM_RE = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_DTM_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?"


class Notes:
    """Collector of (SUBJID, topic, text) judgement records."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, subjid, topic: str, text: str) -> None:
        self.rows.append((subjid, topic, text))

    def add_many(self, subjids, topic: str, text: str) -> None:
        for s in subjids:
            self.add(s, topic, text)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["SUBJID", "topic", "text"]).drop_duplicates(
            ignore_index=True)


# ----------------------------------------------------------------------------------------
# Generic helpers
# ----------------------------------------------------------------------------------------
def _strict_date(s: pd.Series) -> pd.Series:
    """ISO 8601 complete date (YYYY-MM-DD) -> datetime64 at midnight; anything else NaT."""
    s = s.astype("object").where(s.notna(), None)
    ok = s.map(lambda v: isinstance(v, str) and re.fullmatch(_DATE_RE, v) is not None)
    return pd.to_datetime(s.where(ok), format="%Y-%m-%d", errors="coerce")


def _strict_datetime(s: pd.Series) -> pd.Series:
    """ISO 8601 local datetime (YYYY-MM-DDThh:mm[:ss]) -> datetime64; anything else NaT."""
    s = s.astype("object").where(s.notna(), None)
    ok = s.map(lambda v: isinstance(v, str) and re.fullmatch(_DTM_RE, v) is not None)
    return pd.to_datetime(s.where(ok), format="ISO8601", errors="coerce")


def _date_part(s: pd.Series) -> pd.Series:
    """Date of an ISO date or datetime string (complete dates only)."""
    s = s.astype("object").where(s.notna(), None)
    head = s.map(lambda v: v[:10] if isinstance(v, str) and re.match(_DATE_RE + r"(T|$)", v) else None)
    return pd.to_datetime(head, format="%Y-%m-%d", errors="coerce")


def study_day(dt: pd.Series, ref: pd.Series) -> pd.Series:
    """Study day: Day 1 = reference date, the day before = Day -1, no Day 0."""
    diff = (dt.dt.normalize() - ref.dt.normalize()).dt.days
    return (diff + (diff >= 0).astype("Int64")).astype("Int64")


def _yn(cond: pd.Series) -> pd.Series:
    return pd.Series(np.where(cond.fillna(False).astype(bool), "Y", "N"), index=cond.index,
                     dtype=object)


def _round_half_up(x: pd.Series, ndigits: int = 0) -> pd.Series:
    """Round half up; float noise is removed first (9 decimals) so 2.25 never becomes 2.2."""
    f = 10.0 ** ndigits
    return np.floor((x * f).round(9) + 0.5) / f


# ----------------------------------------------------------------------------------------
# EDC (CDISC ODM 1.3.2 snapshot)
# ----------------------------------------------------------------------------------------
def read_metadata(metadata_xml: pathlib.Path) -> dict:
    root = etree.parse(str(metadata_xml)).getroot()
    event_order = {r.get("StudyEventOID"): int(r.get("OrderNumber"))
                   for r in root.iterfind(".//odm:Protocol/odm:StudyEventRef", _N)}
    datatypes = {d.get("OID"): d.get("DataType") for d in root.iterfind(".//odm:ItemDef", _N)}
    return {"event_order": event_order, "datatypes": datatypes}


def newest_snapshot(drop: pathlib.Path, notes: Notes) -> pathlib.Path:
    """Newest full snapshot by the timestamp in the file name (CreationDateTime as tie-break)."""
    pat = re.compile(r"NCT03668171_ODM_(\d{8}T\d{6})\.xml$")
    cands = []
    for p in sorted((drop / "edc").glob("*.xml")):
        m = pat.search(p.name)
        if not m:
            notes.add(None, "edc-file", f"{p.name}: name does not follow the export contract; ignored")
            continue
        head = p.read_bytes()[:2000].decode("utf-8", "replace")
        cdt = re.search(r'CreationDateTime="([^"]+)"', head)
        cands.append((m.group(1), cdt.group(1) if cdt else "", p))
    if not cands:
        raise FileNotFoundError(f"no EDC snapshot in {drop / 'edc'}")
    cands.sort(key=lambda c: (c[0], c[1]))
    by_cdt = max(cands, key=lambda c: (c[1], c[0]))
    if by_cdt[2] != cands[-1][2]:
        notes.add(None, "edc-file", f"newest by file name ({cands[-1][2].name}) differs from newest by "
                                    f"CreationDateTime ({by_cdt[2].name}); file name used")
    return cands[-1][2]


def _removed(el) -> bool:
    return el.get("TransactionType") == "Remove"


def read_edc(path: pathlib.Path, meta: dict, notes: Notes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flatten the snapshot.

    Returns (items, groups): items = one row per ItemData holding a value; groups = one row per
    ItemGroupData (so that item groups with no surviving item are still seen).  Any element with
    TransactionType="Remove" (and everything below it) holds no data.
    """
    root = etree.parse(str(path)).getroot()
    items, groups = [], []
    for sd in root.iterfind(".//odm:ClinicalData/odm:SubjectData", _N):
        if _removed(sd):
            continue
        subj = sd.get("SubjectKey").strip()
        site_ref = sd.find("odm:SiteRef", _N)
        site = site_ref.get("LocationOID") if site_ref is not None else None
        for se in sd.iterfind("odm:StudyEventData", _N):
            if _removed(se):
                continue
            for fd in se.iterfind("odm:FormData", _N):
                if _removed(fd):
                    continue
                for ig in fd.iterfind("odm:ItemGroupData", _N):
                    if _removed(ig):
                        continue
                    key = (subj, site, se.get("StudyEventOID"), se.get("StudyEventRepeatKey"),
                           fd.get("FormOID"), ig.get("ItemGroupOID"), ig.get("ItemGroupRepeatKey"))
                    groups.append(key)
                    for it in ig.iterfind("odm:ItemData", _N):
                        val = it.get("Value")
                        if _removed(it) or val is None or val.strip() == "":
                            continue
                        items.append(key + (it.get("ItemOID"), val.strip()))
    gcols = ["SUBJID", "SITE", "SE", "SERK", "FORM", "IG", "IGRK"]
    items = pd.DataFrame(items, columns=gcols + ["ITEM", "VALUE"], dtype=object)
    groups = pd.DataFrame(groups, columns=gcols, dtype=object)
    for df in (items, groups):
        df["SEORD"] = df["SE"].map(meta["event_order"]).fillna(99).astype(int)
    unknown = sorted(set(items["ITEM"]) - set(meta["datatypes"]))
    if unknown:
        notes.add(None, "edc-metadata", f"ItemOIDs not in metadata.xml ignored: {', '.join(unknown)}")
        items = items[~items["ITEM"].isin(unknown)]
    return items, groups


def _wide(items: pd.DataFrame, ig: str) -> pd.DataFrame:
    """One row per instance of item group ``ig`` (subject, event, event repeat, group repeat)."""
    x = items[items["IG"] == ig]
    keys = ["SUBJID", "SE", "SERK", "IGRK", "SEORD"]
    x = x.assign(SERK=x["SERK"].fillna(""), IGRK=x["IGRK"].fillna(""))
    w = x.pivot_table(index=keys, columns="ITEM", values="VALUE", aggfunc="first").reset_index()
    w.columns.name = None
    return w.sort_values(["SUBJID", "SEORD", "SERK", "IGRK"], ignore_index=True)


def _subject_item(items: pd.DataFrame, item: str, se: str | None = None) -> pd.Series:
    """First value of a (non-repeating) item per subject, in protocol event order."""
    x = items[items["ITEM"] == item]
    if se is not None:
        x = x[x["SE"] == se]
    x = x.sort_values(["SUBJID", "SEORD", "SERK", "IGRK"], na_position="first")
    return x.groupby("SUBJID")["VALUE"].first()


# ----------------------------------------------------------------------------------------
# LIS exports
# ----------------------------------------------------------------------------------------
def _read_csv_lines(path: pathlib.Path, encodings: list[str], expected: list[str],
                    notes: Notes) -> pd.DataFrame | None:
    """Read one LIS file with the csv module, keeping the 1-based physical line of each row."""
    raw = path.read_bytes()
    for i, enc in enumerate(encodings):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        text = text.lstrip("\ufeff")
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return None
        if not set(expected) <= set(header):
            continue
        if i > 0:
            notes.add(None, "lis-encoding", f"{path.name}: not decodable as {encodings[0]} with the "
                                            f"contract header; read as {enc}")
        rows, lines = [], []
        prev_end = reader.line_num
        for rec in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if not rec or all(not f.strip() for f in rec):
                continue
            rec = [f.strip() for f in rec] + [""] * (len(header) - len(rec))
            rows.append(rec[: len(header)])
            lines.append(start)
        df = pd.DataFrame(rows, columns=header, dtype=object)[expected]
        df["SRCFILE"] = path.name
        df["SRCLINE"] = lines
        return df
    notes.add(None, "lis-file", f"{path.name}: header does not match the contract; file ignored")
    return None


def read_lis(drop: pathlib.Path, notes: Notes) -> pd.DataFrame:
    """All LIS rows of both sites in one standard layout (no identifying columns kept)."""
    parts = []
    for p in sorted((drop / "lab" / "SITE01").glob("*.csv")):
        d = _read_csv_lines(p, ["gb18030", "utf-8"], SITE01_COLS, notes)
        if d is None or d.empty:
            continue
        ref = d["参考范围"].str.extract(r"^\s*(?:" + _NUM_RE + r")?\s*[-<]\s*(" + _NUM_RE + r")\s*$")[0]
        parts.append(pd.DataFrame({
            "SITE": "SITE01", "MRN": d["病历号"], "SPEC": d["标本号"],
            "CTIME": pd.to_datetime(d["采样时间"], format="%Y/%m/%d %H:%M", errors="coerce"),
            "CTIME_RAW": d["采样时间"], "TEST": d["检验项目"], "RESULT": d["结果"], "UNIT": d["单位"],
            "REFHI": pd.to_numeric(ref, errors="coerce"), "STATUS": "F",
            "RTIME": pd.to_datetime(d["报告时间"], format="%Y/%m/%d %H:%M", errors="coerce"),
            "SRCFILE": d["SRCFILE"], "SRCLINE": d["SRCLINE"]}))
    for p in sorted((drop / "lab" / "SITE02").glob("*.csv")):
        d = _read_csv_lines(p, ["utf-8", "gb18030"], SITE02_COLS, notes)
        if d is None or d.empty:
            continue
        parts.append(pd.DataFrame({
            "SITE": "SITE02", "MRN": d["PatientID"], "SPEC": d["AccessionNo"],
            "CTIME": pd.to_datetime(d["CollectedAt"], format="%m/%d/%Y %H:%M", errors="coerce"),
            "CTIME_RAW": d["CollectedAt"], "TEST": d["TestCode"], "RESULT": d["Result"],
            "UNIT": d["Units"], "REFHI": pd.to_numeric(d["RefHigh"], errors="coerce"),
            "STATUS": d["Status"].str.upper(),
            "RTIME": pd.to_datetime(d["ResultedAt"], format="%m/%d/%Y %H:%M", errors="coerce"),
            "SRCFILE": d["SRCFILE"], "SRCLINE": d["SRCLINE"]}))
    cols = ["SITE", "MRN", "SPEC", "CTIME", "CTIME_RAW", "TEST", "RESULT", "UNIT", "REFHI", "STATUS",
            "RTIME", "SRCFILE", "SRCLINE"]
    if not parts:
        return pd.DataFrame(columns=cols)
    lis = pd.concat(parts, ignore_index=True)
    # landing date of the file (the incremental file of that day), for ordering ties
    lis["FILEDATE"] = lis["SRCFILE"].str.extract(r"(\d{4}-?\d{2}-?\d{2})")[0].str.replace("-", "")
    return lis


def current_lab_results(lis: pd.DataFrame, mrn_to_subj: pd.Series, notes: Notes) -> pd.DataFrame:
    """Keep the current result of each draw and test, linked to a subject.

    * A draw is (site, specimen number, collection date-time): a specimen number re-used
      with another collection time is another draw.
    * Pending rows (empty result, not a cancellation) never supersede anything and are dropped.
    * Within (draw, test) the row with the latest report time wins (ties: later file, later
      line); when that row is a cancellation (site 02 status X) the result is withdrawn.
    * Rows whose MRN matches no EDC subject are dropped (MRNs are never written anywhere).
    """
    lis = lis.copy()
    bad_ct = lis["CTIME"].isna()
    for (f, n) in lis.loc[bad_ct].groupby("SRCFILE").size().items():
        notes.add(None, "lis-collection-time", f"{f}: {n} row(s) with unparseable collection time; "
                                               f"kept in ADLB without dates")
    unknown_status = ~lis["STATUS"].isin(["F", "C", "X"])
    for (f, n) in lis.loc[unknown_status].groupby("SRCFILE").size().items():
        notes.add(None, "lis-status", f"{f}: {n} row(s) with a status outside F/C/X treated as final")

    pending = (lis["RESULT"] == "") & (lis["STATUS"] != "X")
    lis = lis[~pending]
    lis = lis.sort_values(["RTIME", "FILEDATE", "SRCFILE", "SRCLINE"], na_position="first")
    key = ["SITE", "SPEC", "CTIME_RAW", "TEST"]
    multi_mrn = lis.groupby(key)["MRN"].transform("nunique") > 1
    if multi_mrn.any():
        notes.add(None, "lis-correction", f"{int(multi_mrn.sum())} row(s) of a specimen/test re-sent "
                                          f"with another MRN; the latest row is used as is")
    cur = lis.drop_duplicates(key, keep="last")
    cur = cur[cur["STATUS"] != "X"]

    cur = cur.assign(SUBJID=cur["MRN"].map(mrn_to_subj))
    unlinked = cur["SUBJID"].isna()
    if unlinked.any():
        n_mrn = cur.loc[unlinked, "MRN"].nunique()
        notes.add(None, "lis-unlinked", f"{int(unlinked.sum())} current result(s) of {n_mrn} medical "
                                        f"record number(s) not on any DM form were not used")
    cur = cur[~unlinked].drop(columns=["MRN"])

    cur["PARAMCD"] = cur["TEST"].map(TEST_TO_PARAMCD)
    odd = cur[~cur["TEST"].isin(CONTRACT_TESTS)]
    for (test, site), g in odd.groupby(["TEST", "SITE"]):
        notes.add_many(sorted(g["SUBJID"].unique()), "lis-test",
                       f"{site} test '{test}' is not in the LIS contract; "
                       + "not analysed")
    # Reconciled (ADaM decision log): a test outside the LIS contract has no agreed unit, range or
    # parameter; the production queries it and keeps it out of the analysis, and so does the QC.
    cur = cur[cur["TEST"].isin(CONTRACT_TESTS)].copy()

    numeric = cur["RESULT"].str.fullmatch(_NUM_RE)
    orig = pd.to_numeric(cur["RESULT"].where(numeric), errors="coerce")
    ukey = cur["UNIT"].map(_unit_key)
    factor = pd.Series([UNIT_FACTORS.get(k) for k in zip(cur["PARAMCD"], ukey)], index=cur.index,
                       dtype=float)
    bad_unit = factor.isna() & numeric
    for (p, u), g in cur[bad_unit].groupby(["PARAMCD", "UNIT"]):
        notes.add_many(sorted(g["SUBJID"].unique()), "lis-unit",
                       f"{p} printed unit '{u}' has no SI conversion rule; AVAL left missing")
    cur["AVAL"] = (orig * factor).round(10)
    cur["ORIG"] = orig
    cur["ORIGUNIT"] = ukey
    cur["ANRHI_ORIG"] = cur["REFHI"]
    return cur.reset_index(drop=True)


# ----------------------------------------------------------------------------------------
# MELD
# ----------------------------------------------------------------------------------------
def meld_score(creat_mgdl: pd.Series, bili_mgdl: pd.Series, inr: pd.Series) -> pd.Series:
    """Protocol MELD: floors at 1.0, creatinine cap 4.0, round half up to 0.1, x10, max 40."""
    cr = creat_mgdl.clip(lower=1.0, upper=4.0)
    bi = bili_mgdl.clip(lower=1.0)
    ir = inr.clip(lower=1.0)
    meld_i = 0.957 * np.log(cr) + 0.378 * np.log(bi) + 1.120 * np.log(ir) + 0.643
    return np.minimum(40.0, (_round_half_up(meld_i, 1) * 10).round(6))


def _meld_inputs(labs: pd.DataFrame) -> pd.DataFrame:
    """Numeric creatinine/bilirubin/INR results with the value in the MELD unit."""
    x = labs[labs["PARAMCD"].isin(["CREAT", "BILI", "INR"]) & labs["AVAL"].notna()
             & labs["CTIME"].notna()].copy()
    # use the printed mg/dL value directly when the lab reported mg/dL (no round trip)
    to_mgdl = {"CREAT": CREAT_MGDL, "BILI": BILI_MGDL, "INR": 1.0}
    x["MVAL"] = np.where(x["ORIGUNIT"] == "mg/dl", x["ORIG"], x["AVAL"] / x["PARAMCD"].map(to_mgdl))
    x["DAY"] = x["CTIME"].dt.normalize()
    return x.sort_values(["SUBJID", "CTIME", "RTIME", "FILEDATE", "SRCFILE", "SRCLINE"])


def _meld_from(inputs: pd.DataFrame) -> pd.DataFrame:
    """One MELD per subject and day from the latest input of each test that day."""
    last = inputs.drop_duplicates(["SUBJID", "DAY", "PARAMCD"], keep="last")
    w = last.pivot_table(index=["SUBJID", "DAY"], columns="PARAMCD", values="MVAL", aggfunc="first")
    t = last.groupby(["SUBJID", "DAY"])["CTIME"].max()
    w = w.reindex(columns=["CREAT", "BILI", "INR"]).dropna()
    out = pd.DataFrame({"AVAL": meld_score(w["CREAT"], w["BILI"], w["INR"]),
                        "ADTM": t.reindex(w.index)}).reset_index()
    return out


def derive_meld(labs: pd.DataFrame, trtsdtm: pd.Series, notes: Notes) -> pd.DataFrame:
    """MELD records: one per subject and collection day having all three inputs, with ADTM =
    the latest collection time among the inputs used.  On the first-infusion day, when a
    result drawn after the infusion start changes the inputs, a second record is derived from
    the results drawn at or before the start (the baseline candidate)."""
    inp = _meld_inputs(labs)
    # a later non-numeric result the same day is skipped in favour of the latest numeric one
    nonnum = labs[labs["PARAMCD"].isin(["CREAT", "BILI", "INR"]) & labs["AVAL"].isna()
                  & labs["CTIME"].notna()]
    if not nonnum.empty:
        lastnum = inp.groupby(["SUBJID", inp["DAY"], "PARAMCD"])["CTIME"].max()
        k = pd.MultiIndex.from_arrays([nonnum["SUBJID"], nonnum["CTIME"].dt.normalize(),
                                       nonnum["PARAMCD"]])
        later = nonnum[np.asarray(lastnum.reindex(k).lt(nonnum["CTIME"].to_numpy()).to_numpy())]
        for s, g in later.groupby("SUBJID"):
            notes.add(s, "meld-input", "non-numeric " + ", ".join(sorted(set(g["PARAMCD"])))
                      + " result(s) later the same day skipped; latest numeric result used for MELD on "
                      + ", ".join(sorted(g["CTIME"].dt.strftime("%Y-%m-%d").unique())))
    daily = _meld_from(inp)
    t0 = inp["SUBJID"].map(trtsdtm)
    pre = inp[(inp["DAY"] == t0.dt.normalize()) & (inp["CTIME"] <= t0)]
    pre_meld = _meld_from(pre)
    pre_meld = pre_meld.merge(daily[["SUBJID", "DAY", "ADTM"]], on=["SUBJID", "DAY"],
                              suffixes=("", "_DAY"))
    pre_meld = pre_meld[pre_meld["ADTM"] != pre_meld["ADTM_DAY"]].drop(columns="ADTM_DAY")
    meld = pd.concat([daily, pre_meld], ignore_index=True)
    meld["PARAMCD"] = "MELD"
    return meld.drop(columns="DAY")


# ----------------------------------------------------------------------------------------
# Baseline, windows, analysis flags (shared by labs and clinical assessments)
# ----------------------------------------------------------------------------------------
def flag_bds(bds: pd.DataFrame, trtsdtm: pd.Series, trtsdt: pd.Series) -> pd.DataFrame:
    """ADY, ABLFL, AVISIT and ANL01FL on a BDS-like frame with SUBJID, PARAMCD, ADTM, ADT, AVAL
    and an ordering column ``_ORD`` (later = larger, used for exact ties).

    * Baseline: the last non-missing AVAL with ADTM <= the first infusion start; when the
      infusion start has no usable time, only values from before the first infusion date.
    * AVISIT: protocol windows on ADY; ANL01FL: per subject/parameter/window the non-missing
      value closest to the target day, the earlier (ADTM) on a tie.
    """
    b = bds.copy()
    t0 = b["SUBJID"].map(trtsdtm)
    d0 = b["SUBJID"].map(trtsdt)
    b["ADY"] = study_day(b["ADT"], d0)

    has_val = b["AVAL"].notna() & b["ADTM"].notna()
    cutoff = t0.where(t0.notna(), d0 - pd.Timedelta(seconds=1))
    cand = b[has_val & (b["ADTM"] <= cutoff)]
    bl_idx = cand.sort_values(["ADTM", "_ORD"]).groupby(["SUBJID", "PARAMCD"]).tail(1).index
    b["ABLFL"] = None
    b.loc[bl_idx, "ABLFL"] = "Y"

    b["AVISIT"] = None
    b["_TARGET"] = np.nan
    for name, target, lo, hi in WINDOWS:
        inw = b["ADY"].between(lo, hi).fillna(False).astype(bool)
        b.loc[inw, "AVISIT"] = name
        b.loc[inw, "_TARGET"] = target
    b.loc[bl_idx, "AVISIT"] = "Baseline"

    b["ANL01FL"] = None
    b.loc[bl_idx, "ANL01FL"] = "Y"
    post = b[has_val & b["_TARGET"].notna() & (b["ABLFL"] != "Y")].copy()
    post["_DIST"] = (post["ADY"].astype(float) - post["_TARGET"]).abs()
    # earlier on a tie; on an exact ADTM tie the later-reported record (as for baseline)
    sel = post.sort_values(["_DIST", "ADTM", "_ORD"], ascending=[True, True, False]).groupby(
        ["SUBJID", "PARAMCD", "AVISIT"]).head(1)
    b.loc[sel.index, "ANL01FL"] = "Y"
    return b.drop(columns=["_TARGET"])


# ----------------------------------------------------------------------------------------
# Derivations
# ----------------------------------------------------------------------------------------
def _exposure(items: pd.DataFrame, notes: Notes) -> pd.DataFrame:
    ex = _wide(items, "IG.EX")
    for c in ["I.EXYN", "I.EXSTDTC", "I.EXENDTC", "I.EXVOL"]:
        if c not in ex:
            ex[c] = None
    ex["START"] = _strict_datetime(ex["I.EXSTDTC"])
    ex["STARTD"] = _date_part(ex["I.EXSTDTC"])
    ex["ENDD"] = _date_part(ex["I.EXENDTC"])
    yn = ex["I.EXYN"]
    ex["GIVEN"] = (yn == "Y") | (yn.isna() & ex["STARTD"].notna())
    for s in ex.loc[yn.isna() & ex["STARTD"].notna(), "SUBJID"].unique():
        notes.add(s, "exposure", "infusion with a start date but no 'given' answer counted as given")
    for s in ex.loc[(yn == "N") & ex["STARTD"].notna(), "SUBJID"].unique():
        notes.add(s, "exposure", "infusion answered 'not given' but with a start date; not counted")
    bad = ex["GIVEN"] & ex["I.EXSTDTC"].notna() & ex["START"].isna()
    for s in ex.loc[bad, "SUBJID"].unique():
        notes.add(s, "exposure", "infusion start without a usable time; date used, baseline "
                                 "restricted to values before that date")
    return ex


def first_infusion(items: pd.DataFrame, ex: pd.DataFrame, subjects: pd.Index) -> tuple[pd.Series, pd.Series]:
    """(TRTSDTM, TRTSDT): start of the first infusion given.

    Reconciled with the production (issue 8, recorded in the ADaM decision log): a first infusion
    dated before informed consent is impossible; it is queried and the subject's treatment start is
    left empty until corrected, so no baseline, study day or window is derived from it.
    """
    given = ex[ex["GIVEN"]]
    trtsdtm = given.groupby("SUBJID")["START"].min().reindex(subjects)
    trtsdt = trtsdtm.dt.normalize().fillna(given.groupby("SUBJID")["STARTD"].min().reindex(subjects))
    consent = _strict_date(_subject_item(items, "I.ICDAT")).reindex(subjects)
    impossible = (trtsdt < consent).fillna(False)
    return trtsdtm.mask(impossible), trtsdt.mask(impossible)


def _exposure_checks(items: pd.DataFrame, ex: pd.DataFrame, notes: Notes) -> None:
    """Report implausible infusion records (they are used as recorded)."""
    g = ex[ex["GIVEN"]]
    ic = g["SUBJID"].map(_strict_date(_subject_item(items, "I.ICDAT")))
    rd = g["SUBJID"].map(_date_part(_subject_item(items, "I.RANDDTC")))
    early = g[(g["STARTD"] < ic) | (g["STARTD"] < rd)]
    for s, se in zip(early["SUBJID"], early["SE"]):
        notes.add(s, "exposure", f"infusion at {se} dated before informed consent or randomization; "
                                 f"used as recorded (it sets RFSTDTC if earliest) - query")
    order = g.sort_values(["SUBJID", "SEORD"])
    back = order.groupby("SUBJID")["STARTD"].diff() < pd.Timedelta(0)
    for s in order.loc[back, "SUBJID"].unique():
        notes.add(s, "exposure", "infusion dates not in visit order")
    vol = pd.to_numeric(ex["I.EXVOL"], errors="coerce")
    part = ex["GIVEN"] & (vol < vol[ex["GIVEN"]].max())
    for s in ex.loc[part, "SUBJID"].unique():
        notes.add(s, "exposure", "an infusion with a reduced volume counted as received "
                                 "(SAF 'any volume'; PP 'received' read the same way)")


def derive_adsl(items, labs_meld, ex, notes: Notes) -> pd.DataFrame:
    subjects = pd.Index(sorted(items["SUBJID"].unique()), name="SUBJID")
    adsl = pd.DataFrame(index=subjects)

    randno = _subject_item(items, "I.RANDNO").reindex(subjects)
    randdtc = _subject_item(items, "I.RANDDTC").reindex(subjects)
    rand = randno.notna() | randdtc.notna()
    for s in subjects[randno.notna() != randdtc.notna()]:
        notes.add(s, "randomization", "randomization form only partly filled (number or date "
                                      "missing); subject counted as randomized")
    adsl["RANDFL"] = _yn(rand)
    adsl["ITTFL"] = adsl["RANDFL"]

    given = ex[ex["GIVEN"]]
    n_given = given.groupby("SUBJID")["SE"].nunique().reindex(subjects).fillna(0)
    adsl["SAFFL"] = _yn(n_given >= 1)
    for s in subjects[(n_given >= 1) & ~rand]:
        notes.add(s, "analysis-set", "treated but not randomized; SAFFL=Y by the protocol text")
    ieyn = _subject_item(items, "I.IEYN").reindex(subjects)
    three = given[given["SE"].isin(["SE.W0", "SE.W1", "SE.W2"])].groupby("SUBJID")["SE"].nunique()
    three = three.reindex(subjects).fillna(0) >= 3
    adsl["PPROTFL"] = _yn(rand & (ieyn == "Y") & three)
    unmet = items[items["ITEM"] == "I.IETESTCD"]["SUBJID"].unique()
    for s in subjects[(ieyn == "Y") & subjects.isin(unmet)]:
        notes.add(s, "eligibility", "I.IEYN = Y although criteria-not-met are listed; IEYN used")

    adsl["RANDDT"] = _date_part(randdtc)
    adsl["TRTSDTM"], adsl["TRTSDT"] = first_infusion(items, ex, subjects)

    dth = _subject_item(items, "I.DTHDAT").reindex(subjects)
    adsl["DTHDT"] = _strict_date(dth)
    for s in subjects[dth.notna() & adsl["DTHDT"].isna()]:
        notes.add(s, "death", "death date not a complete ISO date; DTHDT left missing")
    eos = _subject_item(items, "I.EOSSTAT").reindex(subjects)
    for s in subjects[(eos == "2") & adsl["DTHDT"].isna()]:
        notes.add(s, "death", "end-of-study status Death without a death date")

    ltyn = _subject_item(items, "I.LTYN").reindex(subjects)
    ltdat = _strict_date(_subject_item(items, "I.LTDAT").reindex(subjects))
    adsl["LTDT"] = ltdat.where(ltyn != "N")
    for s in subjects[ltdat.notna() & (ltyn == "N")]:
        notes.add(s, "transplant", "transplant date present but LTYN = N; LTDT left missing")
    for s in subjects[(ltyn == "Y") & ltdat.isna()]:
        notes.add(s, "transplant", "LTYN = Y without a usable transplant date")

    adsl["LSTALVDT"] = _last_alive(items, ex, labs_meld, adsl, notes)

    meld = labs_meld[labs_meld["PARAMCD"] == "MELD"]
    adsl["MELDBL"] = meld[meld["ABLFL"] == "Y"].set_index("SUBJID")["AVAL"].reindex(subjects)
    adsl["MELDSCR"] = _meld_screening(items, meld, subjects, notes)

    strat = _subject_item(items, "I.STRAT").reindex(subjects)
    exp = pd.Series(np.select([adsl["MELDSCR"].between(17, 22), adsl["MELDSCR"].between(23, 30)],
                              ["1", "2"], default=""), index=subjects)
    mism = strat.notna() & (strat != exp)
    for s in subjects[mism]:
        m = adsl.at[s, "MELDSCR"]
        notes.add(s, "stratum", f"I.STRAT = {strat[s]} but screening MELD = "
                                f"{'missing' if pd.isna(m) else int(m)} (data-quality finding)")
    adsl = adsl.reset_index()
    return adsl[["SUBJID", "RANDFL", "ITTFL", "SAFFL", "PPROTFL", "RANDDT", "TRTSDTM", "TRTSDT",
                 "LSTALVDT", "DTHDT", "LTDT", "MELDBL", "MELDSCR"]]


def _last_alive(items, ex, labs, adsl, notes: Notes) -> pd.Series:
    """Latest complete date the subject is known alive: consent, eligibility assessment,
    randomization, vital signs, clinical assessments, infusions given, lab collections
    (current results), transplantation, last-known-alive contact date.  For a subject who
    died: capped at the death date and no earlier than the day before death."""
    sources = {"I.ICDAT": _strict_date, "I.IEDAT": _strict_date, "I.VSDAT": _strict_date,
               "I.CLDAT": _strict_date, "I.LSTALDAT": _strict_date, "I.LTDAT": _strict_date,
               "I.RANDDTC": _date_part}
    dates = []
    for it, fn in sources.items():
        x = items[items["ITEM"] == it]
        dates.append(pd.DataFrame({"SUBJID": x["SUBJID"].to_numpy(), "D": fn(x["VALUE"]).to_numpy()}))
    g = ex[ex["GIVEN"]]
    dates.append(pd.DataFrame({"SUBJID": g["SUBJID"], "D": g["STARTD"]}))
    dates.append(pd.DataFrame({"SUBJID": g["SUBJID"], "D": g["ENDD"]}))
    lab = labs[labs["PARAMCD"] != "MELD"]
    dates.append(pd.DataFrame({"SUBJID": lab["SUBJID"], "D": lab["ADT"]}))
    all_d = pd.concat(dates, ignore_index=True).dropna()
    last = all_d.groupby("SUBJID")["D"].max().reindex(adsl.index)

    bad_dates = items[items["ITEM"].isin(list(sources)) & ~items["VALUE"].str.fullmatch(
        _DATE_RE + r"(T\d{2}:\d{2}(:\d{2})?)?")]
    for s, v in zip(bad_dates["SUBJID"], bad_dates["ITEM"]):
        notes.add(s, "invalid-date", f"{v} value is not an ISO 8601 date; not used")

    dth = adsl["DTHDT"]
    after = last.notna() & dth.notna() & (last > dth)
    for s in adsl.index[after]:
        notes.add(s, "last-alive", "dated records after the death date; LSTALVDT capped at DTHDT")
    last = last.where(~after, dth)
    floor = dth - pd.Timedelta(days=1)
    return last.where(dth.isna() | (last >= floor), floor)


def _meld_screening(items, meld, subjects, notes: Notes) -> pd.Series:
    scr = pd.Series(pd.NaT, index=subjects, dtype="datetime64[ns]")
    for it in ["I.ICDAT", "I.VSDAT", "I.CLDAT"]:  # lowest precedence first
        d = _strict_date(_subject_item(items, it, se="SE.SCR")).reindex(subjects)
        scr = d.where(d.notna(), scr)
    m = meld.assign(DAY=meld["ADTM"].dt.normalize()).sort_values("ADTM")
    m = m.drop_duplicates(["SUBJID", "DAY"], keep="last").set_index(["SUBJID", "DAY"])["AVAL"]
    out = m.reindex(pd.MultiIndex.from_arrays([subjects, scr])).to_numpy()
    out = pd.Series(out, index=subjects, dtype=float)
    for s in subjects[scr.notna() & out.isna()]:
        notes.add(s, "meld-screening", "no complete creatinine/bilirubin/INR set on the Screening "
                                       "visit date; MELDSCR missing")
    return out


def derive_adlb(labs: pd.DataFrame, adsl_pre: pd.DataFrame, notes: Notes) -> pd.DataFrame:
    trtsdtm = adsl_pre.set_index("SUBJID")["TRTSDTM"]
    trtsdt = adsl_pre.set_index("SUBJID")["TRTSDT"]
    lab = labs.assign(ADTM=labs["CTIME"], ADT=labs["CTIME"].dt.normalize())
    meld = derive_meld(labs, trtsdtm, notes)
    meld = meld.assign(ADT=meld["ADTM"].dt.normalize(), SRCFILE=None, SRCLINE=pd.NA)
    cols = ["SUBJID", "PARAMCD", "SRCFILE", "SRCLINE", "ADTM", "ADT", "AVAL"]
    keep = ["ANRHI_ORIG", "ORIG"]
    lab = lab.sort_values(["RTIME", "FILEDATE", "SRCFILE", "SRCLINE"], na_position="first")
    lab["_ORD"] = np.arange(len(lab))
    meld["_ORD"] = np.arange(len(meld))
    bds = pd.concat([lab[cols + keep + ["_ORD"]], meld[cols + ["_ORD"]]], ignore_index=True)
    bds = flag_bds(bds, trtsdtm, trtsdt)
    no_ref = bds["SUBJID"].map(trtsdtm).isna() & bds["SUBJID"].map(trtsdt).isna()
    for s in bds.loc[no_ref, "SUBJID"].unique():
        if s in set(adsl_pre.loc[adsl_pre["RANDFL"] == "Y", "SUBJID"]):
            notes.add(s, "study-day", "randomized but never infused: no RFSTDTC, so no study day, "
                                      "baseline or analysis visit")
    bds["SRCLINE"] = bds["SRCLINE"].astype("Int64")
    return bds.sort_values(["SUBJID", "PARAMCD", "ADTM", "_ORD"], ignore_index=True)


def derive_adtte(adsl: pd.DataFrame, notes: Notes) -> pd.DataFrame:
    a = adsl[adsl["ITTFL"] == "Y"].set_index("SUBJID")
    start = a["RANDDT"]
    cut = start + pd.Timedelta(days=CUTOFF_DAYS)
    for s in a.index[start.isna()]:
        notes.add(s, "tte", "randomized without a randomization date; no time-to-event derived")
    for s in a.index[a["LTDT"].notna() & (a["LTDT"] < start)]:
        notes.add(s, "tte", "transplant date before randomization")

    dth_ev = a["DTHDT"].notna() & (a["DTHDT"] <= cut)
    cens_dth = pd.concat([a["LSTALVDT"], a["LTDT"], cut], axis=1).min(axis=1)
    dth12 = pd.DataFrame({"PARAMCD": "DTH12", "STARTDT": start,
                          "ADT": a["DTHDT"].where(dth_ev, cens_dth), "CNSR": np.where(dth_ev, 0, 1)})

    first_ev = pd.concat([a["DTHDT"], a["LTDT"]], axis=1).min(axis=1)
    tfs_ev = first_ev.notna() & (first_ev <= cut)
    cens_tfs = pd.concat([a["LSTALVDT"], cut], axis=1).min(axis=1)
    tfs12 = pd.DataFrame({"PARAMCD": "TFS12", "STARTDT": start,
                          "ADT": first_ev.where(tfs_ev, cens_tfs), "CNSR": np.where(tfs_ev, 0, 1)})

    tte = pd.concat([dth12, tfs12]).rename_axis("SUBJID").reset_index()
    tte["ADT"] = tte["ADT"].where(tte["STARTDT"].notna())
    tte["AVAL"] = ((tte["ADT"] - tte["STARTDT"]).dt.days + 1).astype("Int64")
    tte["CNSR"] = tte["CNSR"].astype("Int64").where(tte["STARTDT"].notna())
    return tte.sort_values(["SUBJID", "PARAMCD"], ignore_index=True)[
        ["SUBJID", "PARAMCD", "STARTDT", "ADT", "AVAL", "CNSR"]]


def _clin_bds(items: pd.DataFrame, notes: Notes) -> pd.DataFrame:
    """Clinical-assessment parameters SYMIMPR (Y/N) and HEGRADE as BDS rows (AVALC)."""
    c = _wide(items, "IG.CLIN")
    for col in ["I.CLDAT", "I.SYMIMPR", "I.HEGRADE"]:
        if col not in c:
            c[col] = None
    c["ADT"] = _strict_date(c["I.CLDAT"])
    bad = c["I.CLDAT"].notna() & c["ADT"].isna()
    for s, se in zip(c.loc[bad, "SUBJID"], c.loc[bad, "SE"]):
        notes.add(s, "invalid-date", f"clinical assessment date at {se} is not an ISO 8601 date; "
                                     f"the assessment cannot be placed in an analysis window")
    rows = []
    for p in ["SYMIMPR", "HEGRADE"]:
        rows.append(pd.DataFrame({"SUBJID": c["SUBJID"], "PARAMCD": p, "AVALC": c["I." + p],
                                  "ADT": c["ADT"], "ADTM": c["ADT"], "_ORD": c.index}))
    out = pd.concat(rows, ignore_index=True)
    out["AVAL"] = np.where(out["AVALC"].notna(), 1.0, np.nan)  # marks non-missing for selection
    return out


def derive_adrs(adsl, adlb, items, notes: Notes) -> pd.DataFrame:
    a = adsl[adsl["ITTFL"] == "Y"].set_index("SUBJID")
    clin = flag_bds(_clin_bds(items, notes), adsl.set_index("SUBJID")["TRTSDTM"],
                    adsl.set_index("SUBJID")["TRTSDT"])
    w12c = clin[(clin["AVISIT"] == "Week 12") & (clin["ANL01FL"] == "Y")]
    w12c = w12c.set_index(["SUBJID", "PARAMCD"])
    w12l = adlb[(adlb["AVISIT"] == "Week 12") & (adlb["ANL01FL"] == "Y")
                & adlb["PARAMCD"].isin(["BILI", "PTA", "INR"])].set_index(["SUBJID", "PARAMCD"])

    def pick(frame, p, col):
        sub = frame[frame.index.get_level_values("PARAMCD") == p]
        return sub[col].droplevel("PARAMCD").reindex(a.index)

    sym = pick(w12c, "SYMIMPR", "AVALC")
    he = pick(w12c, "HEGRADE", "AVALC")
    bili, bili_o, bili_hi = (pick(w12l, "BILI", c) for c in ["AVAL", "ORIG", "ANRHI_ORIG"])
    pta = pick(w12l, "PTA", "AVAL")
    inr = pick(w12l, "INR", "AVAL")

    # Week 12 visit date: the latest date of the records selected for the Week 12 analysis visit
    dates = pd.concat([pick(w12c, p, "ADT") for p in ["SYMIMPR", "HEGRADE"]]
                      + [pick(w12l, p, "ADT") for p in ["BILI", "PTA", "INR"]], axis=1)
    w12_dt = dates.max(axis=1)
    cut = a["RANDDT"] + pd.Timedelta(days=CUTOFF_DAYS)
    horizon = pd.concat([w12_dt, cut], axis=1).max(axis=1)
    dead_lt = ((a["DTHDT"] <= horizon) | (a["LTDT"] <= horizon)).fillna(False)
    known = (a["LSTALVDT"] >= cut).fillna(False) | w12_dt.notna()
    alive = pd.Series(np.where(dead_lt, "N", np.where(known, "Y", None)), index=a.index, dtype=object)
    for s in a.index[~dead_lt & ~known]:
        notes.add(s, "remission", "vital status at Week 12 unknown (last known alive before "
                                  "randomization + 84 days, no Week 12 assessment): ALIVE_NOT_LT missing")

    def yn(cond, avail):
        return pd.Series(np.where(avail, np.where(cond, "Y", "N"), None), index=a.index, dtype=object)

    hegr = pd.to_numeric(he, errors="coerce")
    # ULN is the reporting laboratory's own; compare in the printed unit of that result
    uln_o = pd.to_numeric(bili_hi, errors="coerce")
    bili_avail = bili.notna() & uln_o.notna()
    for s in a.index[bili.notna() & uln_o.isna()]:
        notes.add(s, "remission", "Week 12 bilirubin without a reference range: criterion missing")
    coag_y = ((pta > 40) | (inr < 1.6)).fillna(False)
    coag_n = ~coag_y & pta.notna() & inr.notna()
    coag = pd.Series(np.where(coag_y, "Y", np.where(coag_n, "N", None)), index=a.index, dtype=object)
    out = pd.DataFrame({
        "ALIVE_NOT_LT": alive,
        "SYMIMPR": sym.where(sym.isin(["Y", "N"]), None),
        "HE_RESOLVED": yn(hegr == 0, hegr.notna()),
        "BILI_LT_5ULN": yn(bili_o < 5 * uln_o, bili_avail),
        "COAG": coag,
    })
    out["REM12"] = _yn((out == "Y").all(axis=1))
    out = out.rename_axis("SUBJID").reset_index()
    return out[["SUBJID", "REM12", "ALIVE_NOT_LT", "SYMIMPR", "HE_RESOLVED", "BILI_LT_5ULN", "COAG"]]


def _impute_partial(v: pd.Series, start: bool, trtsdt: pd.Series, end_dt: pd.Series | None,
                    dthdt: pd.Series | None) -> pd.Series:
    v = v.astype("object").where(v.notna(), None)
    full = _strict_date(v)
    ym = v.map(lambda s: isinstance(s, str) and re.fullmatch(r"\d{4}-\d{2}", s) is not None)
    yy = v.map(lambda s: isinstance(s, str) and re.fullmatch(r"\d{4}", s) is not None)
    p_ym = pd.to_datetime(v.where(ym) + "-01", format="%Y-%m-%d", errors="coerce")
    p_yy = pd.to_datetime(v.where(yy) + "-01-01", format="%Y-%m-%d", errors="coerce")
    lo = full.fillna(p_ym).fillna(p_yy)
    hi = full.fillna(p_ym + pd.offsets.MonthEnd(0)).fillna(p_yy + pd.offsets.YearEnd(0))
    if not start:
        return hi.where(hi.isna() | dthdt.isna() | (hi <= dthdt), dthdt)
    partial = ym | yy
    in_period = partial & (trtsdt >= lo) & (trtsdt <= hi)
    ends_before = end_dt.notna() & (end_dt < trtsdt)
    return lo.where(~(in_period & ~ends_before), trtsdt)


def derive_adae(items, groups, adsl, notes: Notes) -> pd.DataFrame:
    ae_groups = groups[groups["IG"] == "IG.AE"][["SUBJID", "IGRK"]].drop_duplicates()
    ae = _wide(items, "IG.AE")
    ae = ae_groups.assign(IGRK=ae_groups["IGRK"].fillna("")).merge(
        ae, on=["SUBJID", "IGRK"], how="left")
    for c in ["I.AESTDAT", "I.AEENDAT"]:
        if c not in ae:
            ae[c] = None
    s = adsl.set_index("SUBJID")
    trtsdt = ae["SUBJID"].map(s["TRTSDT"])
    dthdt = ae["SUBJID"].map(s["DTHDT"])
    # Reconciled (ADaM decision log): a partial end is capped at the earlier of death and the
    # end-of-study date, as admiral's ADAE template does (max_dates = DTHDT, EOSDT).
    eosdt = ae["SUBJID"].map(_strict_date(_subject_item(items, "I.EOSDAT")))
    ae["AENDT"] = _impute_partial(ae["I.AEENDAT"], False, trtsdt, None, pd.concat([dthdt, eosdt], axis=1).min(axis=1))
    end_complete = _strict_date(ae["I.AEENDAT"])
    ae["ASTDT"] = _impute_partial(ae["I.AESTDAT"], True, trtsdt, end_complete, None)
    bad = (ae["I.AESTDAT"].notna() & ae["ASTDT"].isna()) | (ae["I.AEENDAT"].notna() & ae["AENDT"].isna())
    for sj in ae.loc[bad, "SUBJID"].unique():
        notes.add(sj, "ae-date", "AE date not a valid (partial) ISO date; not imputed")
    miss = trtsdt.notna() & ae["ASTDT"].isna()
    for sj in ae.loc[miss, "SUBJID"].unique():
        notes.add(sj, "ae-date", "AE without a usable start date counted as treatment-emergent")
    te = np.where(trtsdt.isna(), None, np.where(miss | (ae["ASTDT"] >= trtsdt), "Y", "N"))
    ae["TRTEMFL"] = pd.Series(te, index=ae.index, dtype=object)
    ae["AEREPEAT"] = pd.to_numeric(ae["IGRK"], errors="coerce").astype("Int64")
    return ae.sort_values(["SUBJID", "AEREPEAT"], ignore_index=True)[
        ["SUBJID", "AEREPEAT", "ASTDT", "AENDT", "TRTEMFL"]]


# ----------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------
def derive_all(drop: pathlib.Path, metadata_xml: pathlib.Path) -> dict[str, pd.DataFrame]:
    drop = pathlib.Path(drop)
    notes = Notes()
    meta = read_metadata(pathlib.Path(metadata_xml))
    snap = newest_snapshot(drop, notes)
    items, groups = read_edc(snap, meta, notes)

    mrn = items[items["ITEM"] == "I.MRN"]
    dup = mrn[mrn["VALUE"].duplicated(keep=False)]
    for s in dup["SUBJID"].unique():
        notes.add(s, "lab-link", "medical record number shared with another subject; labs linked to "
                                 "the first subject key only")
    mrn_to_subj = mrn.sort_values("SUBJID").drop_duplicates("VALUE").set_index("VALUE")["SUBJID"]

    labs = current_lab_results(read_lis(drop, notes), mrn_to_subj, notes)
    ex = _exposure(items, notes)
    _exposure_checks(items, ex, notes)

    # first pass: reference dates needed by study day / baseline
    subjects = pd.Index(sorted(items["SUBJID"].unique()))
    trtsdtm, trtsdt = first_infusion(items, ex, subjects)
    randfl = _yn((_subject_item(items, "I.RANDNO").reindex(subjects).notna())
                 | (_subject_item(items, "I.RANDDTC").reindex(subjects).notna()))
    pre = pd.DataFrame({"SUBJID": subjects, "TRTSDTM": trtsdtm.to_numpy(),
                        "TRTSDT": trtsdt.to_numpy(), "RANDFL": randfl.to_numpy()})

    adlb_full = derive_adlb(labs, pre, notes)
    adsl = derive_adsl(items, adlb_full, ex, notes)
    adtte = derive_adtte(adsl, notes)
    adrs = derive_adrs(adsl, adlb_full, items, notes)
    adae = derive_adae(items, groups, adsl, notes)
    adlb = adlb_full[["SUBJID", "PARAMCD", "SRCFILE", "SRCLINE", "ADTM", "ADT", "ADY", "AVAL",
                      "ABLFL", "AVISIT", "ANL01FL"]]
    return {"adsl": adsl, "adtte": adtte, "adrs": adrs, "adlb": adlb, "adae": adae,
            "notes": notes.frame()}
