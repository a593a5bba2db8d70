"""Synthetic NCT03668171 trial generator: nightly EDC snapshots, site LIS exports, unblinded list.

`synthesize(out_dir, subjects=200, seed=20171210, snapshots=2, unblinded=True, plant_errors=True)`
writes, shaped exactly as the study's contracts describe:

    out_dir/edc/NCT03668171_ODM_YYYYMMDDTHHMMSS.xml      one full snapshot per night, last = data cut
    out_dir/lab/SITE01/LIS_SITE01_YYYYMMDD.csv           GB18030, CRLF, one file per report day
    out_dir/lab/SITE02/labs_YYYY-MM-DD.csv               UTF-8 (BOM on some nights), one per report day
    out_dir/randomization/unblinded_randomization_list.csv   only when unblinded=True
    out_dir/synth_truth.json                             ground truth for tests, never a pipeline input

`subjects` counts screened subjects (screen failures included). The same arguments give the same
bytes; the final snapshot and the LIS files do not depend on `snapshots` or `unblinded`.
Module map: population (screening, eligibility, outcomes), roles (edge cases and planted errors),
randomization, course (visits, infusions, labs, AEs, CMs), crf (eCRF item groups), edc (ODM
writer), lis (LIS writer), truth, vocab (the fixed AE/CM/MH vocabularies), labtests, metadata.
"""

from .generator import TRUTH_FILE, synthesize
from .vocab import AE_TERMS, CM_TERMS, MH_TERMS, verbatim_dictionary

__all__ = ["AE_TERMS", "CM_TERMS", "MH_TERMS", "TRUTH_FILE", "synthesize", "verbatim_dictionary"]
