"""The ADaM datasets of a release and, for each, the ADaM datasets its derivation reads.

Standard library only: the pipeline's step graph (and so the Airflow DAG file, at parse time) reads it.
The writers are bound to these names in `transforms.adam.build.WRITERS`.
"""
from __future__ import annotations

# In dependency order: each dataset's inputs come before it.
ADAM_DATASETS: dict[str, tuple[str, ...]] = {
    "ADSL": (),
    "ADLB": ("ADSL",),
    "ADTTE": ("ADSL",),
    "ADRS": ("ADSL", "ADLB"),
    "ADAE": ("ADSL",),
}


def _check_order() -> None:
    seen: set[str] = set()
    for dataset, needs in ADAM_DATASETS.items():
        missing = [n for n in needs if n not in seen]
        if missing:
            raise ValueError(f"{dataset} reads {', '.join(missing)}, which must be declared before it")
        seen.add(dataset)


_check_order()
