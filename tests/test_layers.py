"""The import layers of `transforms/`: a package imports only from its own layer or the layers below it.

The order is the direction data and vocabulary flow: the CDISC ground floor, the standards and the
ODM/study configuration, release files, intake (land, ingest, privacy), SDTM, ADaM, the quality
checks and reports on top of both, then what runs them (pipeline, orchestration, cli).
"""
from __future__ import annotations

import ast
from pathlib import Path

import transforms

ROOT = Path(transforms.__file__).parent

# Lowest first. Packages in one layer do not depend on an order between them.
LAYERS: list[set[str]] = [
    {"cdisc"},  # findings, ISO 8601 dates, lab results: the shared vocabulary
    {"standards", "odm"},  # SDTMIG/ADaMIG metadata and CT; ODM metadata and values
    {"config"},  # the study as configuration
    {"publish"},  # release files: Parquet, XPT, the release folder, reading a release back
    {"land", "ingest"},  # the drop taken in and staged
    {"privacy"},  # identifiers scrubbed or pseudonymised before anything is derived
    {"sdtm"},
    {"adam"},
    {"quality", "reports"},  # they check and summarise SDTM and ADaM
    {"share"},  # de-identified sharing packages of a published release
    {"pipeline"},
    {"orchestration"},
    {"cli"},
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def _package(module: str) -> str:
    """The layer package of a dotted module under transforms ('transforms.sdtm.lb' -> 'sdtm')."""
    return module.split(".")[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) of every transforms import in a module's source, function-level ones included."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from transforms import config` imports the package transforms.config
            names = [f"{target}.{a.name}" for a in node.names] if target == "transforms" else [target]
            out += [(node.lineno, t) for t in names]
    return [(line, t) for line, t in out if t.startswith("transforms.")]


def _back_up_imports(module: str, imports: list[tuple[int, str]]) -> list[str]:
    """Each import of `module` that reaches a higher layer, named with its line."""
    own = _package(module)
    return [f"{module} (layer {own}) line {line} imports {target} (layer {_package(target)})"
            for line, target in imports if RANK.get(_package(target), -1) > RANK[own]]


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_package_has_a_layer() -> None:
    undeclared = sorted({_package(_module_name(p)) for p in _modules() if p != ROOT / "__init__.py"} - set(RANK))
    assert not undeclared, f"packages of transforms/ without a layer in tests/test_layers.py: {undeclared}"


def test_no_import_runs_up_the_layers() -> None:
    back_up = []
    for path in _modules():
        module = _module_name(path)
        if module != "transforms":
            back_up += _back_up_imports(module, _imports(path.read_text(encoding="utf-8"), module,
                                                         path.name == "__init__.py"))
    assert not back_up, "imports from a lower layer to a higher one:\n" + "\n".join(back_up)


def test_the_check_sees_lazy_and_relative_imports() -> None:
    source = "from ..cdisc.findings import Finding\nfrom .. import config\n\ndef f():\n    from ..quality import report\n"
    imports = _imports(source, "transforms.sdtm.lb")
    assert imports == [(1, "transforms.cdisc.findings"), (2, "transforms.config"), (5, "transforms.quality")]
    assert _back_up_imports("transforms.sdtm.lb", imports) == [
        "transforms.sdtm.lb (layer sdtm) line 5 imports transforms.quality (layer quality)"]


def test_the_root_package_imports_nothing_of_its_own() -> None:
    assert _imports((ROOT / "__init__.py").read_text(encoding="utf-8"), "transforms", True) == []
