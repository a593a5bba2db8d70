"""eCRF item groups as records, and the spec's variable rules applied to them."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from transforms.cdisc.findings import ERROR, WARNING, Finding, Findings
from transforms.odm.metadata import StudyMetadata
from transforms.privacy.scrub import Scrubber, describe, scrub_column

if TYPE_CHECKING:  # the spec binds its derivation names to functions of modules that map with it
    from transforms.sdtm.spec import MappingSpec, RecordTemplate, VariableRule

KEYS = ["SUBJECTKEY", "SITEID", "EVENTOID", "EVENTREPEAT", "FORMOID", "FORMREPEAT", "IGOID", "IGREPEAT"]
# Internal columns that carry lineage and context through a builder; never written to SDTM.
INTERNAL = ["_SUBJECTKEY", "_SITEID", "_EVENTOID", "_EVENTREPEAT", "_RECORD", "_SRCFILE", "_SRCREC"]


def item_group_records(items: pd.DataFrame, igoid: str) -> pd.DataFrame:
    """One row per ItemGroupData of `igoid`, one column per item; lineage in _SRCFILE/_SRCREC."""
    sub = items[(items["IGOID"] == igoid) & items["VALID"]]
    if sub.empty:
        return pd.DataFrame(columns=KEYS + ["_SRCFILE", "_SRCREC"])
    sub = sub.drop_duplicates(KEYS + ["ITEMOID"], keep="last")
    wide = sub.set_index(KEYS + ["ITEMOID"])["VALUE"].unstack("ITEMOID")
    lineage = sub.groupby(KEYS, sort=False).agg(_SRCFILE=("SRCFILE", "first"), _LINE=("SRCLINE", "min"))
    wide = wide.join(lineage).reset_index()
    wide["_SRCREC"] = (
        "SubjectKey=" + wide["SUBJECTKEY"] + " " + wide["EVENTOID"] + "[" + wide["EVENTREPEAT"] + "]/"
        + wide["FORMOID"] + "/" + wide["IGOID"] + "[" + wide["IGREPEAT"] + "] (line "
        + wide["_LINE"].astype("string") + ")"
    )
    return wide.drop(columns="_LINE").sort_values(KEYS).reset_index(drop=True)


def subject_items(items: pd.DataFrame, igoids: tuple[str, ...]) -> pd.DataFrame:
    """Items of non-repeating item groups, one row per subject (first occurrence wins)."""
    sub = items[items["IGOID"].isin(igoids) & items["VALID"]]
    sub = sub.sort_values(["SUBJECTKEY", "EVENTOID", "EVENTREPEAT", "SRCLINE"]).drop_duplicates(
        ["SUBJECTKEY", "ITEMOID"], keep="first")
    return sub.set_index(["SUBJECTKEY", "ITEMOID"])["VALUE"].unstack("ITEMOID")


def _present(df: pd.DataFrame, item: str) -> pd.Series:
    return df[item].notna() & (df[item] != "") if item in df else pd.Series(False, index=df.index)


def when_mask(df: pd.DataFrame, when: str, subjects_with: Callable[[str], set[str]]) -> pd.Series:
    """Rows a template's WHEN condition keeps (`I.X present`, `I.X == V`, `no IG.X`, joined by `and`)."""
    mask = pd.Series(True, index=df.index)
    if not when:
        return mask
    for clause in when.split(" and "):
        words = clause.split()
        if len(words) == 2 and words[1] == "present":
            mask &= _present(df, words[0])
        elif len(words) == 2 and words[0] == "no":
            mask &= ~df["SUBJECTKEY"].isin(subjects_with(words[1]))
        elif len(words) == 3 and words[1] in ("==", "!="):
            col = df[words[0]] if words[0] in df else pd.Series(pd.NA, index=df.index, dtype="string")
            eq = col.fillna("") == words[2]
            mask &= eq if words[1] == "==" else ~eq
        else:
            raise ValueError(f"unsupported WHEN clause {clause!r}")
    return mask


class RecordMapper:
    """Applies the spec's rules for one study to eCRF records."""

    def __init__(self, spec: MappingSpec, meta: StudyMetadata, scrubber: Scrubber, findings: Findings) -> None:
        self.spec = spec
        self.meta = meta
        self.scrubber = scrubber
        self.findings = findings

    def map_template(self, template: RecordTemplate, items: pd.DataFrame) -> pd.DataFrame:
        """SDTM variables (and SUPP values as SUPP:QNAM) for every record of one template."""
        rows = item_group_records(items, template.item_group)
        if template.join:
            joined = subject_items(items, template.join)
            rows = rows.join(joined[[c for c in joined.columns if c not in rows.columns]], on="SUBJECTKEY")
        keep = when_mask(rows, template.when, lambda ig: set(items.loc[items["IGOID"] == ig, "SUBJECTKEY"]))
        rows = rows[keep].reset_index(drop=True)
        out = pd.DataFrame({
            "_SUBJECTKEY": rows["SUBJECTKEY"], "_SITEID": rows["SITEID"], "_EVENTOID": rows["EVENTOID"],
            "_EVENTREPEAT": rows["EVENTREPEAT"], "_RECORD": template.record,
            "_SRCFILE": rows["_SRCFILE"], "_SRCREC": rows["_SRCREC"],
        }, index=rows.index)
        for rule in self.spec.rules_for(template.domain, template.record):
            if rule.algorithm in ("derived", "lab") or rule.variable.startswith("--"):
                continue
            out[rule.variable] = self._apply(rule, rows)
        for rule in self.spec.supp_rules(template.domain):
            if rule.record == template.record and rule.algorithm != "derived":
                out[f"SUPP:{rule.variable}"] = self._apply(rule, rows)
        return out

    def _apply(self, rule: VariableRule, rows: pd.DataFrame) -> pd.Series:
        alg, src = rule.algorithm, rule.source
        if alg == "subject":
            return rows["SUBJECTKEY"].astype("string")
        if alg == "site":
            return rows["SITEID"].astype("string")
        if alg == "const":
            return pd.Series(src, index=rows.index, dtype="string")
        if alg == "const_if":
            item, value = src.split(" ", 1)
            return pd.Series(value, index=rows.index, dtype="string").where(_present(rows, item))
        items = src.split()
        col = self._col(rows, items[0])
        if alg == "dtc":
            return col
        if alg == "item":
            # Any text that reaches SDTM as typed is scrubbed: an MRN typed into a number field too.
            return self._redacted(rows, col, rule)
        if alg == "num":
            return pd.to_numeric(col, errors="coerce").astype("Float64")
        if alg == "text":
            return self._redacted(rows, col, rule)
        if alg == "decode":
            return self._decoded(col, items[0])
        if alg == "decode_other":
            decoded = self._decoded(col, items[0])
            other = self._redacted(rows, self._col(rows, items[1]), rule)
            return other.where(other.notna() & (other != ""), decoded)
        if alg == "ct":
            return self._ct(rows, col, rule)
        raise ValueError(f"algorithm {alg} is not applied to eCRF records")

    @staticmethod
    def _col(rows: pd.DataFrame, item: str) -> pd.Series:
        if item in rows:
            return rows[item].astype("string")
        return pd.Series(pd.NA, index=rows.index, dtype="string")

    def _decoded(self, col: pd.Series, item: str) -> pd.Series:
        """The coded values of `item` decoded by the eCRF metadata, each distinct code once."""
        return col.map({v: self.meta.decode(item, v) for v in col.dropna().unique()}).astype("string")

    def _ct(self, rows: pd.DataFrame, col: pd.Series, rule: VariableRule) -> pd.Series:
        mapping = self.spec.codelists[rule.codelist]
        mapped = col.map({v: mapping.get(v, pd.NA) for v in col.dropna().unique()}).astype("string")
        for i in col[col.notna() & mapped.isna()].index:
            self.findings.add(Finding(
                severity=ERROR, rule="SPEC-CT-UNMAPPED", source=rows.at[i, "_SRCFILE"], record=rows.at[i, "_SRCREC"],
                field=rule.source, value=str(col[i]), site=rows.at[i, "SITEID"], subjid=rows.at[i, "SUBJECTKEY"],
                domain=rule.domain,
                message=f"coded value has no {rule.codelist} mapping for {rule.domain}.{rule.variable}"))
        return mapped

    def _redacted(self, rows: pd.DataFrame, col: pd.Series, rule: VariableRule) -> pd.Series:
        """The column with identifiers removed by the drop's scrubber; each removal a finding without the value."""
        out, changed = scrub_column(col, self.scrubber)
        for i, kinds in changed.items():
            self.findings.add(Finding(
                severity=WARNING, rule="PRIVACY-FREE-TEXT", source=rows.at[i, "_SRCFILE"],
                record=rows.at[i, "_SRCREC"], field=rule.source, site=rows.at[i, "SITEID"],
                subjid=rows.at[i, "SUBJECTKEY"], domain=rule.domain,
                message=f"free text held {describe(kinds)}; removed from {rule.domain}.{rule.variable}"))
        return out
