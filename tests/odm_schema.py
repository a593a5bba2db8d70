"""Where the tests find the ODM 1.3.2 schema (shared by the generator and edge-case planter tests)."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def odm_xsd() -> Path | None:
    """ODM1-3-2.xsd from $ODM_XSD or the PyPI package odmlib (found without importing it)."""
    if os.environ.get("ODM_XSD"):
        return Path(os.environ["ODM_XSD"])
    spec = importlib.util.find_spec("odmlib")
    if spec is None or spec.origin is None:
        return None
    xsd = Path(spec.origin).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
    return xsd if xsd.is_file() else None
