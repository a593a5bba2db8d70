"""Safe XML parsing: no DTDs, no entities, no network (ODM needs none of them)."""
from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

# An ODM file needs no DTD; a DOCTYPE is how entity expansion and external entities get in.
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
PROLOG_BYTES = 64 * 1024


class UnsafeXMLError(ValueError):
    """The document declares a DTD or entities, which ODM files never need."""


def check_prolog(path: Path) -> None:
    """Reject a file whose prolog declares a DOCTYPE or ENTITY."""
    with path.open("rb") as f:
        head = f.read(PROLOG_BYTES)
    root_start = re.search(rb"<[A-Za-z]", head)
    prolog = head[: root_start.start()] if root_start else head
    if _DOCTYPE.search(prolog):
        raise UnsafeXMLError(f"{path.name}: DOCTYPE/ENTITY declarations are not accepted in ODM files")


def safe_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entities and loads nothing from outside."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


def parse_file(path: Path) -> etree._ElementTree:
    """Parse a small XML file (e.g. ODM metadata) safely into a tree."""
    check_prolog(path)
    return etree.parse(str(path), safe_parser())


def iterparse_file(path: Path, tags: tuple[str, ...], events: tuple[str, ...] = ("start", "end")):
    """Stream-parse a large XML file safely, yielding (event, element) for the given tags."""
    check_prolog(path)
    return etree.iterparse(
        str(path), events=events, tag=tags, resolve_entities=False, no_network=True,
        load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True,
    )
