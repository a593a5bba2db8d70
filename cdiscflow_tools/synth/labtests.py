"""The two sites' laboratory test catalogues (lab/lis-export.md) and the lab arithmetic the SAP uses.

Internally every value is held in site 01's units (umol/L, g/L, 10^9/L, ...), which are also the SI
units of protocol.md; site 02 values are converted with `factor2` when written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

BILI_UMOL_PER_MGDL = 17.1
CREA_UMOL_PER_MGDL = 88.4


@dataclass(frozen=True)
class LabTest:
    """One test as both LIS print it; `factor2` converts site 01 units to site 02 units."""

    code: str  # site 02 TestCode, also the internal key
    zh: str  # site 01 检验项目
    en: str  # site 02 TestName
    unit1: str
    range1: str
    low1: float | None
    high1: float | None
    dp1: int
    unit2: str
    low2: str
    high2: str
    dp2: int
    factor2: float
    crit_low2: float | None = None  # site 02 prints LL below this
    crit_high2: float | None = None  # site 02 prints HH above this


UMOL = "μmol/L"  # site 01 prints it with a Greek mu, or as "umol/L"

TESTS: tuple[LabTest, ...] = (
    LabTest("TBIL", "总胆红素", "Total Bilirubin", UMOL, "3.4-20.5", 3.4, 20.5, 1,
            "mg/dL", "0.2", "1.2", 1, 1 / BILI_UMOL_PER_MGDL, None, 20.0),
    LabTest("DBIL", "直接胆红素", "Direct Bilirubin", UMOL, "0-6.8", 0, 6.8, 1,
            "mg/dL", "0.0", "0.3", 1, 1 / BILI_UMOL_PER_MGDL),
    LabTest("ALT", "丙氨酸氨基转移酶", "ALT", "U/L", "9-50", 9, 50, 0, "U/L", "7", "56", 0, 1.0),
    LabTest("AST", "天门冬氨酸氨基转移酶", "AST", "U/L", "15-40", 15, 40, 0, "U/L", "10", "40", 0, 1.0),
    LabTest("ALB", "白蛋白", "Albumin", "g/L", "40-55", 40, 55, 1, "g/dL", "3.5", "5.0", 1, 0.1),
    LabTest("CREA", "肌酐", "Creatinine", UMOL, "57-111", 57, 111, 1,
            "mg/dL", "0.6", "1.2", 2, 1 / CREA_UMOL_PER_MGDL, None, 5.0),
    LabTest("INR", "国际标准化比值", "INR", "", "0.8-1.2", 0.8, 1.2, 2, "", "0.8", "1.2", 1, 1.0, None, 4.5),
    LabTest("PT", "凝血酶原时间", "Prothrombin Time", "s", "9.4-12.5", 9.4, 12.5, 1,
            "sec", "11.0", "13.5", 1, 1.0),
    LabTest("PTA", "凝血酶原活动度", "Prothrombin Activity", "%", "80-120", 80, 120, 0, "%", "70", "130", 0, 1.0),
    LabTest("NA", "钠", "Sodium", "mmol/L", "137-147", 137, 147, 1, "mmol/L", "135", "145", 0, 1.0, 125, 155),
    LabTest("WBC", "白细胞计数", "WBC", "10^9/L", "3.5-9.5", 3.5, 9.5, 2, "K/uL", "4.5", "11.0", 1, 1.0, 2.0, 30.0),
    LabTest("PLT", "血小板计数", "Platelets", "10^9/L", "125-350", 125, 350, 0, "K/uL", "150", "400", 0, 1.0, 50),
    LabTest("HGB", "血红蛋白", "Hemoglobin", "g/L", "130-175", 130, 175, 0, "g/dL", "13.5", "17.5", 1, 0.1, 7.0),
    LabTest("NH3", "血氨", "Ammonia", UMOL, "9-30", 9, 30, 0, "umol/L", "11", "32", 0, 1.0, None, 150),
    LabTest("AFP", "甲胎蛋白", "Alpha-Fetoprotein", "ng/mL", "<7", None, 7, 2, "ng/mL", "0", "8.3", 1, 1.0),
)
TEST_BY_CODE: dict[str, LabTest] = {t.code: t for t in TESTS}
TEST_ORDER: dict[str, int] = {t.code: i for i, t in enumerate(TESTS)}

# Reporting limits of both LIS (same analysers): beyond them the result is printed as "<x" / ">x".
LOWER_LIMIT: dict[str, float] = {"AFP": 0.5}
UPPER_LIMIT: dict[str, float] = {"ALT": 1000, "AST": 1000}

MELD_TRIO = ("TBIL", "CREA", "INR")


def round_half_up(value: float, dp: int) -> float:
    """Round like a LIS does (half up), not banker's rounding."""
    q = Decimal(1).scaleb(-dp)
    return float(Decimal(repr(value)).quantize(q, rounding=ROUND_HALF_UP))


def _round(value: float, dp: int) -> float:
    """Fast half-up rounding of a positive value; the printed text is made from its result."""
    scale = 10.0**dp
    return math.floor(value * scale + 0.5) / scale


def to_site(site: str, code: str, value: float) -> float:
    """Convert a model value (site 01 units) to the site's units and reporting precision."""
    t = TEST_BY_CODE[code]
    if site == "SITE01":
        return _round(value, t.dp1)
    return _round(value * t.factor2, t.dp2)


def fmt(site: str, code: str, value: float) -> str:
    """Format an already site-rounded value as the site's LIS prints it."""
    t = TEST_BY_CODE[code]
    return f"{value:.{t.dp1 if site == 'SITE01' else t.dp2}f}"


def meld_inputs_mg(site: str, reported: dict[str, float]) -> tuple[float, float, float]:
    """Return (creatinine mg/dL, bilirubin mg/dL, INR) from site-reported values."""
    if site == "SITE01":
        return (reported["CREA"] / CREA_UMOL_PER_MGDL, reported["TBIL"] / BILI_UMOL_PER_MGDL, reported["INR"])
    return reported["CREA"], reported["TBIL"], reported["INR"]


def meld_i(crea_mg: float, bili_mg: float, inr: float) -> float:
    """Unrounded MELD(i) per protocol.md (bounds applied, no factor 10)."""
    c = min(max(crea_mg, 1.0), 4.0)
    return 0.957 * math.log(c) + 0.378 * math.log(max(bili_mg, 1.0)) + 1.120 * math.log(max(inr, 1.0)) + 0.643


def meld(crea_mg: float, bili_mg: float, inr: float) -> int:
    """MELD = 10 x MELD(i) rounded half-up to one decimal, capped at 40 (protocol.md)."""
    return min(40, int(round_half_up(meld_i(crea_mg, bili_mg, inr), 1) * 10 + 1e-9))


def meld_is_ambiguous(crea_mg: float, bili_mg: float, inr: float) -> bool:
    """Tell whether MELD(i) sits so near a rounding edge that float noise could flip it."""
    x = meld_i(crea_mg, bili_mg, inr) * 10
    return abs((x - math.floor(x)) - 0.5) < 1e-6


def stratum_for(meld_score: int) -> int | None:
    """CL.STRAT code for a screening MELD: 1 for 17-22, 2 for 23-30, None outside."""
    if 17 <= meld_score <= 22:
        return 1
    if 23 <= meld_score <= 30:
        return 2
    return None


def pt_from_inr(inr: float) -> float:
    """Prothrombin time (s) giving this INR with a reagent of ISI about 1.05."""
    return 11.6 * inr ** (1 / 1.05)


def pta_from_pt(pt: float) -> float:
    """Prothrombin activity (%) from a Thomson-style dilution curve (normal PT 12 s)."""
    return min(150.0, max(5.0, 100 * (12.0 - 7.0) / max(pt - 7.0, 0.5)))


def flag1(code: str, value: float) -> str:
    """Site 01 abnormal flag (↑ / ↓ / empty) for a numeric result."""
    t = TEST_BY_CODE[code]
    if t.high1 is not None and value > t.high1:
        return "↑"
    if t.low1 is not None and value < t.low1:
        return "↓"
    return ""


def flag2(code: str, value: float) -> str:
    """Site 02 flag (H, L, HH, LL or empty) for a numeric result in site 02 units."""
    t = TEST_BY_CODE[code]
    if t.crit_high2 is not None and value > t.crit_high2:
        return "HH"
    if t.crit_low2 is not None and value < t.crit_low2:
        return "LL"
    if value > float(t.high2):
        return "H"
    if value < float(t.low2):
        return "L"
    return ""
