"""LIS rows made safe for output: specimen numbers pseudonymised, result comments scrubbed."""
from __future__ import annotations

import pandas as pd

from transforms.cdisc.findings import WARNING, Finding, Findings
from transforms.privacy.pseudonym import pseudonymise_specimens
from transforms.privacy.scrub import Scrubber, describe, scrub_column

FREE_TEXT_RULE = "PRIVACY-FREE-TEXT"


def protect_lab_rows(labs: pd.DataFrame, study_id: str, scrubber: Scrubber, site: str,
                     findings: Findings | None = None) -> pd.DataFrame:
    """Staged LIS rows with SPECID pseudonymised and RESULT scrubbed; each scrub a finding (without the value)."""
    labs = labs.copy()
    labs["SPECID"] = pseudonymise_specimens(labs["SPECID"], study_id)
    labs["RESULT"], changed = scrub_column(labs["RESULT"], scrubber)
    if findings is not None:
        for i, kinds in changed.items():
            findings.add(Finding(WARNING, FREE_TEXT_RULE, str(labs.at[i, "SRCFILE"]),
                                 f"line {labs.at[i, 'SRCLINE']}, specimen {labs.at[i, 'SPECID']}", "result",
                                 f"result comment held {describe(kinds)}; removed before LB.LBORRES",
                                 site=site, subjid=str(labs.at[i, "SUBJ"]) if "SUBJ" in labs and
                                 isinstance(labs.at[i, "SUBJ"], str) else "", domain="LB"))
    return labs
