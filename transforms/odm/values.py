"""Checks of ODM item values against their ItemDef (DataType, Length, CodeList)."""
from __future__ import annotations

import re
from datetime import date, datetime

from transforms.odm.metadata import CodeList, ItemDef

_PARTIAL = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?$")
_INTEGER = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+(?:\.\d+)?$")


def _valid_partial_date(value: str) -> bool:
    if not _PARTIAL.match(value):
        return False
    parts = [int(p) for p in value.split("-")]
    try:
        date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return False
    return True


def value_problem(item: ItemDef, codelist: CodeList | None, value: str) -> str | None:
    """Why a value does not fit its ItemDef, or None when it fits."""
    dt = item.datatype
    if dt == "date" and not (len(value) == 10 and _valid_partial_date(value)):
        return "is not a date YYYY-MM-DD"
    if dt == "partialDate" and not _valid_partial_date(value):
        return "is not a date YYYY, YYYY-MM or YYYY-MM-DD"
    if dt == "datetime":
        if not _DATETIME.match(value):
            return "is not a date-time YYYY-MM-DDThh:mm[:ss]"
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "is not a valid date-time"
    if dt == "integer" and not _INTEGER.match(value):
        return "is not an integer"
    if dt == "float" and not _FLOAT.match(value):
        return "is not a number"
    if codelist is not None and value not in codelist.decodes:
        return f"is not in codelist {codelist.name} ({', '.join(codelist.decodes)})"
    if dt == "text" and item.length is not None and len(value) > item.length:
        return f"is longer than {item.length} characters"
    return None
