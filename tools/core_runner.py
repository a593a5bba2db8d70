"""Run the CDISC open rules engine (CORE) on a folder of XPT files, offline; writes the raw results as JSON.

Runs in `.venv-core` (the engine needs Python 3.12), so it imports nothing from `transforms`;
transforms/quality/core.py starts it, reads its JSON and applies the reviewed exceptions.

    .venv-core/bin/python tools/core_runner.py --xpt-dir REL/sdtm --out raw.json [--jobs 2] [--rule CORE-000351]
        [--dataset DM --dataset SUPPDM]

With --dataset the rules run on those datasets only, each rule's results also kept by dataset
(`results_by_dataset`), so that one run per dataset (the nightly DAG's CORE tasks) merges into the
report a run on the whole folder gives.

Offline mode, as the shared cdisc-core README describes: the rules come from the engine's own cache
files (committed xz-compressed in transforms/quality/core_cache/ and checked against their SHA-256),
there is no CT package and no variable-level library metadata. Two deliberate departures:

- The library metadata holds one thing, the SDTMIG class of each dataset (``--dataset-classes``, a
  JSON object {"DM": "SPECIAL PURPOSE", ...}). Without it the engine guesses classes from topic
  variables only, and every rule limited to a class skipped DM, SV and the trial design datasets:
  114 of the 430 rules never ran there. Variable lists stay out on purpose: rules about required,
  expected or ordered variables would then compare the datasets with the project's own transcription
  of the SDTMIG, which is no independent check (they end in "execution error", as without metadata).
- XPT files are read with pyreadstat instead of pandas.read_sas: pandas counts every 8-byte run of
  blanks in the last 80-byte card as padding and silently drops trailing records (a 2-row file whose
  last record holds an empty Char and a blank 10-byte value reads as 1 row). The engine's own
  metadata reader already uses pyreadstat.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import lzma
import os
import pickle
import sys
import tempfile
import time
import warnings
from multiprocessing import Pool
from pathlib import Path
from typing import Any

CACHE_DIR = Path(__file__).resolve().parent.parent / "transforms" / "quality" / "core_cache"
# SHA-256 of the decompressed cache files (cdisc-rules-engine resources/cache at commit af87535).
CACHE_SHA256 = {
    "rules.pkl": "cc157a9ed2205f1e0984fe318e1540098a4740dc1f3d7fdc1669b95d094be0d2",
    "rules_dictionary.pkl": "2a71ec3fbf68f0eacdb3c0a7af3fe9afc388d3ff8ee2e988e3b70ce716bf58f7",
}
ENCODING = "utf-8"

_engine: Any = None
_targets: list[str] | None = None  # --dataset: the only datasets the rules are run on


def load_cache(name: str, cache_dir: Path = CACHE_DIR) -> Any:
    """Unpickle one of the committed cache files after checking it is the reviewed one."""
    raw = lzma.decompress((cache_dir / f"{name}.xz").read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != CACHE_SHA256[name]:
        raise SystemExit(f"{name}.xz: SHA-256 {digest} is not the reviewed {CACHE_SHA256[name]}")
    return pickle.loads(raw)  # unpickling is safe here: the bytes are the reviewed, checksummed file


def _patch_xpt_reader() -> None:
    """Read XPT through pyreadstat (see the module docstring: pandas drops trailing records)."""
    import pyreadstat
    from cdisc_rules_engine.services.data_readers.xpt_reader import XPTReader

    original = XPTReader._read_sas

    def _read_sas(self: Any, source: Any, **kwargs: Any) -> Any:
        if kwargs.get("chunksize"):
            return original(self, source, **kwargs)
        if isinstance(source, (str, os.PathLike)):
            df, _ = pyreadstat.read_xport(os.fspath(source), encoding=self.encoding or ENCODING)
            return df
        with tempfile.NamedTemporaryFile(suffix=".xpt") as tmp:
            tmp.write(source.read())
            tmp.flush()
            df, _ = pyreadstat.read_xport(tmp.name, encoding=self.encoding or ENCODING)
        return df

    XPTReader._read_sas = _read_sas


def library_metadata(dataset_classes: dict[str, str]) -> Any:
    """Library metadata that knows only the class of each dataset (names as in the Library's IG JSON)."""
    from cdisc_rules_engine.models.library_metadata_container import (
        LibraryMetadataContainer,
    )

    by_class: dict[str, list[dict[str, str]]] = {}
    for name, cls in sorted(dataset_classes.items()):
        by_class.setdefault(cls, []).append({"name": name})
    classes = [{"name": cls, "datasets": ds} for cls, ds in sorted(by_class.items())]
    return LibraryMetadataContainer(standard_metadata={"classes": classes} if classes else {})


def _init_worker(paths: list[str], standard: str, version: str, dataset_classes: dict[str, str],
                 targets: list[str] | None = None) -> None:
    global _engine, _targets
    _targets = targets
    warnings.simplefilter("ignore")
    from cdisc_rules_engine.rules_engine import RulesEngine
    from cdisc_rules_engine.services import logger
    from cdisc_rules_engine.services.cache import InMemoryCacheService

    logger.disabled = True
    _patch_xpt_reader()
    _engine = RulesEngine(
        cache=InMemoryCacheService(), standard=standard, standard_version=version,
        library_metadata=library_metadata(dataset_classes), dataset_paths=paths,
        max_dataset_size=max(os.path.getsize(p) for p in paths), ct_packages=[], validate_xml=False,
        encoding=ENCODING,
    )


def _validate(rule: dict, dataset: str | None) -> list:
    """The rule's results on every dataset, or on the one named (the others stay there to be looked up)."""
    service = _engine.data_service
    if dataset is not None:
        def only_this_one() -> list:
            # validate_single_rule asks once for the datasets to check; every later request (a rule
            # that reads DM, a SUPP--'s parent, the list of the study's domains) sees all of them.
            del service.get_datasets
            return [d for d in service.get_datasets() if Path(d.full_path).stem.upper() == dataset]
        service.get_datasets = only_this_one
    try:
        results = _engine.validate_single_rule(copy.deepcopy(rule))
    finally:
        service.__dict__.pop("get_datasets", None)
    return json.loads(json.dumps([r for rs in results.values() for r in rs], default=str))


def _run_rule(rule: dict) -> dict:
    start = time.perf_counter()
    by_dataset: dict[str, list] = {}
    crash = ""
    try:
        if _targets is None:
            results = _validate(rule, None)
        else:
            for name in _targets:
                by_dataset[name] = _validate(rule, name)
            results = [r for rs in by_dataset.values() for r in rs]
    except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the other 429
        results, by_dataset, crash = [], {}, f"{type(exc).__name__}: {exc}"
    out = {
        "core_id": rule["core_id"],
        "description": rule.get("description", ""),
        "message": next((a.get("params", {}).get("message", "") for a in rule.get("actions") or []), ""),
        "seconds": round(time.perf_counter() - start, 3),
        "crash": crash,
        "results": results,
    }
    if _targets is not None:
        out["results_by_dataset"] = by_dataset
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every rule of the standard (or the ones named) and write the raw results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xpt-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--standard", default="sdtmig")
    ap.add_argument("--version", default="3-4")
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    ap.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--dataset-classes", type=Path, help="JSON object: dataset name -> SDTMIG class")
    ap.add_argument("--rule", action="append", default=[], help="run only these rule ids")
    ap.add_argument("--dataset", action="append", default=[],
                    help="run the rules on these datasets only (by name: DM, SUPPDM); every XPT of --xpt-dir "
                         "stays readable for the rules that look across datasets")
    args = ap.parse_args(argv)

    rules = load_cache("rules.pkl", args.cache_dir)
    ids = load_cache("rules_dictionary.pkl", args.cache_dir)[f"{args.standard}/{args.version}"]
    if args.rule:
        unknown = sorted(set(args.rule) - set(ids))
        if unknown:
            ap.error(f"not {args.standard}/{args.version} rules: {unknown}")
        ids = [i for i in ids if i in set(args.rule)]
    paths = sorted(str(p) for p in args.xpt_dir.glob("*.xpt"))
    if not paths:
        ap.error(f"no .xpt files in {args.xpt_dir}")

    start = time.perf_counter()
    classes = json.loads(args.dataset_classes.read_text(encoding="utf-8")) if args.dataset_classes else {}
    targets = sorted({d.upper() for d in args.dataset}, key=lambda d: f"{d.lower()}.xpt") or None
    unknown = sorted(set(targets or []) - {Path(p).stem.upper() for p in paths})
    if unknown:
        ap.error(f"no .xpt file in {args.xpt_dir} for {unknown}")
    init = (paths, args.standard, args.version, classes, targets)
    # Imported once here: the pool's workers are forked from this process and inherit it (5 s each otherwise).
    import cdisc_rules_engine.rules_engine  # noqa: F401

    if args.jobs == 1:
        _init_worker(*init)
        out = [_run_rule(rules[i]) for i in ids]
    else:
        with Pool(args.jobs, initializer=_init_worker, initargs=init) as pool:
            out = list(pool.imap_unordered(_run_rule, [rules[i] for i in ids], chunksize=4))
    from importlib.metadata import version

    report = {
        "engine": f"cdisc-rules-engine {version('cdisc-rules-engine')}",
        "python": sys.version.split()[0],
        "standard": f"{args.standard}/{args.version}",
        "datasets": [Path(p).name for p in paths],
        "seconds": round(time.perf_counter() - start, 1),
        "jobs": args.jobs,
        "dataset_classes": classes,
        **({"checked": targets} if targets else {}),
        "rules": sorted(out, key=lambda r: r["core_id"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
