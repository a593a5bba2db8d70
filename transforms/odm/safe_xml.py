"""Safe XML parsing: no DTDs, no entities, no network, UTF-8 only (ODM needs none of the rest)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

UTF8 = ("UTF-8", "UTF8")


class UnsafeXMLError(ValueError):
    """The document declares a DTD (the way entities get in) or is not UTF-8 as the contract says."""


def safe_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entities and loads nothing from outside."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


def refuse_dtd(docinfo: etree.DocInfo, name: str) -> None:
    """Reject a document whose parser saw a DOCTYPE (internal subset, SYSTEM or PUBLIC id)."""
    # The parser's own view, not a text scan: comments, processing instructions or a long prolog
    # before the DOCTYPE cannot hide it.
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.system_url or docinfo.public_id:
        raise UnsafeXMLError(f"{name}: a DOCTYPE/DTD is declared; ODM files never need one (entities are refused)")


def require_utf8(docinfo: etree.DocInfo, name: str) -> None:
    """Reject a document whose declared (or BOM-detected) encoding is not UTF-8."""
    encoding = (docinfo.encoding or "UTF-8").upper()
    if encoding not in UTF8:
        raise UnsafeXMLError(f"{name}: declared encoding is {encoding[:40]}, the contract says UTF-8")


def parse_file(path: Path) -> etree._ElementTree:
    """Parse a small XML file (e.g. ODM metadata) safely into a tree."""
    for _ in iterparse_file(path, tags=(), events=("start",)):
        break  # the DTD check happens at the first element, before anything else is read
    tree = etree.parse(str(path), safe_parser())
    refuse_dtd(tree.docinfo, path.name)
    require_utf8(tree.docinfo, path.name)
    return tree


def iterparse_file(path: Path, tags: tuple[str, ...], events: tuple[str, ...] = ("start", "end")
                   ) -> Iterator[tuple[str, etree._Element]]:
    """Stream-parse a large XML file safely, yielding (event, element) for the given tags (all if empty).

    A DTD is refused at the first element, before any item is read (libxml2 expands internal entities
    in attribute values whatever resolve_entities says, so the document must stop there); the declared
    encoding is checked at the end (callers write to a partial file, discarded when this raises).
    """
    it = etree.iterparse(
        str(path), events=events, tag=tags or None, resolve_entities=False, no_network=True,
        load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True,
    )
    checked = False
    for event, el in it:
        if not checked:
            refuse_dtd(el.getroottree().docinfo, path.name)
            checked = True
        yield event, el
    root = it.root
    if root is not None:
        docinfo = root.getroottree().docinfo
        refuse_dtd(docinfo, path.name)
        require_utf8(docinfo, path.name)
