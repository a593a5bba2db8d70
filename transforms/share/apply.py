"""Applying the rule table to one dataset of a release: each variable (or value-level parameter) by its rule."""
from __future__ import annotations

import datetime as dt

import re
from dataclasses import dataclass

import pyarrow as pa

from transforms.privacy.scrub import Scrubber
from transforms.share.dates import shift_value
from transforms.share.freetext import Redaction, redact
from transforms.share.ids import SubjectKey, pseudonym_id
from transforms.share.rules import VALUE_KEYS, Rule, RuleTable, ShareConfig, ShareError

_FULL_DATE = re.compile(r"(?<!\d)(?:19|20)\d{2}-\d{2}-\d{2}(?!\d)")
_SEQ = re.compile(r"^(?:[A-Z]{2}SEQ|ASEQ|IDVARVAL)$")
# Rules whose output is the input: such a value must hold no participant id and no calendar date.
_PASS_THROUGH = {"keep", "study_day", "pool_site", "age_cap"}


@dataclass
class Context:
    """What applying the rules needs: the rules, the settings, the secret, the key, the site codes and the scrubber."""

    rules: RuleTable
    cfg: ShareConfig
    secret: bytes
    key: SubjectKey
    sites: dict[str, str]
    scrubber: Scrubber
    id_guard: Scrubber


@dataclass(frozen=True)
class VariableReport:
    """How one variable (or value-level parameter) of one dataset was treated."""

    dataset: str
    variable: str
    rule: str
    rule_line: int
    comment: str
    values: int
    changed: int


def value_variables(name: str, table: pa.Table) -> list[str]:
    """The variables of a dataset as the rule table names them (value-level ones as VAR:PARAM)."""
    names = []
    for var in table.column_names:
        key = VALUE_KEYS.get(var)
        if key in table.column_names:
            params = table.column(key).to_pylist()
            if any(p is None and v is not None for p, v in zip(params, table.column(var).to_pylist(), strict=True)):
                # A value without its parameter matches no rule: it must not pass through untreated.
                names.append(f"{var}:<no {key}>")
            names += [f"{var}:{p}" for p in sorted({p for p in params if p is not None})]
        else:
            names.append(var)
    return names


def missing_rules(datasets: dict[str, pa.Table], rules: RuleTable) -> list[str]:
    """'DATASET.VARIABLE' of every variable no row of the rule table covers."""
    return [f"{name}.{var}" for name, table in datasets.items() for var in value_variables(name, table)
            if rules.resolve(name, var) is None]


def deidentify(name: str, table: pa.Table, ctx: Context) -> tuple[pa.Table, list[VariableReport], list[Redaction]]:
    """A dataset with every variable treated by its rule; the per-variable report; the redactions made."""
    cols = {f.name: table.column(f.name).to_pylist() for f in table.schema}
    n = table.num_rows
    drop_rows: set[int] = set()
    out: dict[str, list] = {}
    reports: list[VariableReport] = []
    redactions: list[Redaction] = []
    seq_var = next((v for v in cols if _SEQ.match(v)), None)
    for var in cols:
        key = VALUE_KEYS.get(var)
        if key in cols:
            values = list(cols[var])
            for param in sorted({p for p in cols[key] if p is not None}):
                rows = [i for i in range(n) if cols[key][i] == param]
                rule = _rule(ctx, name, f"{var}:{param}")
                if _removes(rule, ctx):
                    drop_rows.update(rows)
                    reports.append(_report(name, f"{var}:{param}", rule, len(rows), len(rows)))
                    continue
                changed = 0
                for i in rows:
                    values[i] = _treat(rule, name, f"{var}:{param}", values[i], i, cols, ctx, redactions, seq_var)
                    changed += values[i] != cols[var][i]
                _guard(rule, name, f"{var}:{param}", [values[i] for i in rows], ctx, "USUBJID" in cols)
                reports.append(_report(name, f"{var}:{param}", rule, len(rows), changed))
            out[var] = values
            continue
        rule = _rule(ctx, name, var)
        if _removes(rule, ctx):
            reports.append(_report(name, var, rule, n, sum(v is not None for v in cols[var])))
            continue
        values = [_treat(rule, name, var, v, i, cols, ctx, redactions, seq_var) for i, v in enumerate(cols[var])]
        _guard(rule, name, var, values, ctx, "USUBJID" in cols)
        reports.append(_report(name, var, rule, n, sum(a != b for a, b in zip(values, cols[var], strict=True))))
        out[var] = values
    keep = [i for i in range(n) if i not in drop_rows]
    if "USUBJID" in out:
        # Records follow the new ids: the original order (site, then enrolment) would tell the old ids.
        keep.sort(key=lambda i: out["USUBJID"][i] or "")
    fields = [table.schema.field(v) for v in out]
    arrays = [pa.array([out[f.name][i] for i in keep], type=f.type) for f in fields]
    shared = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=table.schema.metadata))
    return shared, reports, redactions


def _rule(ctx: Context, dataset: str, variable: str) -> Rule:
    rule = ctx.rules.resolve(dataset, variable)
    if rule is None:  # missing_rules() ran first; this is the last guard
        raise ShareError(f"no de-identification rule for {dataset}.{variable}")
    return rule


def _removes(rule: Rule, ctx: Context) -> bool:
    return rule.rule == "remove" or (rule.rule == "offset_date" and ctx.cfg.date_mode == "study_day")


def _report(dataset: str, variable: str, rule: Rule, values: int, changed: int) -> VariableReport:
    return VariableReport(dataset, variable, rule.rule, rule.line, rule.comment, values, int(changed))


def _treat(rule: Rule, dataset: str, variable: str, value: object, i: int, cols: dict[str, list], ctx: Context,
           redactions: list[Redaction], seq_var: str | None) -> object:
    """One value treated by its rule."""
    if value is None or rule.rule in ("keep", "study_day"):
        return value
    usubjid = cols["USUBJID"][i] if "USUBJID" in cols else None
    where = f"{dataset}.{variable}"
    if rule.rule == "recode_subject":
        return _recode_subject(variable, value, usubjid, ctx, where)
    if rule.rule == "recode_id":
        return pseudonym_id(ctx.secret, str(value)) if str(value).strip() else value
    if rule.rule == "offset_date":
        if usubjid is None:
            raise ShareError(f"{where}: a date in a record without USUBJID cannot be shifted; give it another rule")
        try:
            return shift_value(value, ctx.key.offset[usubjid])
        except ValueError as exc:
            raise ShareError(f"{where}: {exc}") from None
    if rule.rule == "age_cap":
        try:
            age = float(value)
        except (TypeError, ValueError):
            raise ShareError(f"{where}: rule age_cap needs a number; give the variable another rule") from None
        return float(ctx.cfg.age_cap + 1) if age > ctx.cfg.age_cap else value
    if rule.rule == "pool_site":
        if str(value) not in ctx.sites:
            raise ShareError(f"{where}: rule pool_site applies to whole site variables only; give it another rule")
        return ctx.sites[str(value)]
    if rule.rule == "redact_free_text":
        text, kinds = redact(value, ctx.scrubber)
        if kinds:
            record = "" if seq_var is None or cols[seq_var][i] is None else str(cols[seq_var][i])
            new_id = ctx.key.usubjid.get(usubjid, "") if usubjid else ""
            redactions.append(Redaction(dataset, new_id, variable, record, kinds))
        return text
    if rule.rule == "idvarval":
        idvar = cols["IDVAR"][i] if "IDVAR" in cols else None
        if idvar is None:
            return value
        target = ctx.rules.resolve(str(cols["RDOMAIN"][i] if "RDOMAIN" in cols else dataset), str(idvar))
        if target is None or target.rule == "idvarval" or _removes(target, ctx):
            return None
        return _treat(target, dataset, variable, value, i, cols, ctx, redactions, seq_var)
    raise ShareError(f"{where}: rule {rule.rule} has no treatment")  # pragma: no cover - Literal keeps this out


def _recode_subject(variable: str, value: object, usubjid: str | None, ctx: Context, where: str) -> object:
    key = ctx.key
    if variable == "SUBJID" and usubjid in key.subjid:
        return key.subjid[usubjid]
    if value in key.usubjid:
        return key.usubjid[value]
    by_subjid = {s: u for u, s in key.original_subjid.items()}
    if value in by_subjid:
        return key.subjid[by_subjid[value]]
    raise ShareError(f"{where}: a value that is no participant of the release cannot be recoded")


def _guard(rule: Rule, dataset: str, variable: str, values: list, ctx: Context, per_participant: bool) -> None:
    """A value passed through unchanged holds no original participant id, nor (in participant data) a calendar date."""
    if rule.rule not in _PASS_THROUGH:
        return
    if per_participant and any(isinstance(v, dt.date) for v in values):  # ADaM dates: date32/timestamp columns
        raise ShareError(f"{dataset}.{variable} (rule {rule.rule}, line {rule.line}) keeps calendar dates of "
                         "participants; give it the rule offset_date or remove")
    for v in {v for v in values if isinstance(v, str)}:
        if (per_participant and _FULL_DATE.search(v)) or ctx.id_guard.scrub(v)[1]:
            raise ShareError(f"{dataset}.{variable} (rule {rule.rule}, line {rule.line}) keeps a value holding a "
                             "participant id or a calendar date; give it a rule that changes it")
