"""Columns a suite asks the validator to add to a table, so that one expectation checks a whole group of items.

A raw suite groups its per-item checks (a codelist, a data type, a maximum length, a lab unit): each
grouped expectation names its group in meta "check" and keeps one message per item in meta "messages"
(item OID or lab test -> message). The suite's meta "added_columns" says what to add, each with one
vectorised operation:

- {"check_of": KEY}: the group of each row's KEY (an item OID, a lab test), for the row conditions;
- {"joined": [A, B]}: "A=B" per row, so that one value set holds every item's allowed pairs.

GX's own column-pair value-set check is not used: in GX 1.24 its pandas version walks the rows in
Python (DataFrame.iterrows), 130 of the 155 seconds of a 2,000-subject raw EDC validation.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

SEP = "="


def joined(a: str, b: str) -> str:
    """The value of a joined column for one pair (the suites' value sets)."""
    return f"{a}{SEP}{b}"


def joined_column(a: pd.Series, b: pd.Series) -> pd.Series:
    """Per row "A=B"; missing where A or B is missing (a value-set check leaves missing values out).

    The left column is a key of a grouped check (an OID, a test), never holding SEP, so a pair reads one way.
    """
    return a.astype("string") + SEP + b.astype("string")


def check_groups(suite: dict[str, Any]) -> dict[str, str]:
    """Key (item OID, lab test) -> its check group, from the grouped expectations' meta."""
    out: dict[str, str] = {}
    for e in suite["expectations"]:
        meta = e.get("meta") or {}
        for key in meta.get("messages", {}):
            if out.setdefault(key, meta["check"]) != meta["check"]:
                raise ValueError(f"suite {suite['name']}: {key} is in check groups {out[key]} and {meta['check']}")
    return out


def add_columns(df: pd.DataFrame, suite: dict[str, Any]) -> pd.DataFrame:
    """The table with the columns the suite's meta "added_columns" asks for (unchanged without any)."""
    wanted = (suite.get("meta") or {}).get("added_columns") or {}
    if not wanted:
        return df
    added = {}
    for name, how in wanted.items():
        if "check_of" in how:
            added[name] = df[how["check_of"]].map(check_groups(suite)).astype("category")
        else:
            a, b = how["joined"]
            added[name] = joined_column(df[a], df[b])
    return df.assign(**added)


def message_of(meta: dict[str, Any], key: Any) -> str:
    """The finding's message: the item's own in a grouped expectation, else the expectation's."""
    return meta.get("messages", {}).get(key, meta["message"])
