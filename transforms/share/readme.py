"""The README of a sharing package, for the recipient: the study, what is inside, what changed, how to cite."""
from __future__ import annotations

import pandas as pd

from transforms.config import StudyConfig
from transforms.share.apply import VariableReport
from transforms.share.freetext import Redaction
from transforms.share.rules import ShareConfig


def readme_text(study: StudyConfig, cfg: ShareConfig, counts: dict[str, tuple[str, int]],
                reports: list[VariableReport], redactions: list[Redaction], classes: pd.DataFrame,
                docs: list[str], participants: int) -> str:
    """README.md of the package (Markdown; no identifier, no calendar date of the study)."""
    removed = sorted({f"{r.dataset}.{r.variable}" for r in reports if r.rule == "remove"
                      or (r.rule == "offset_date" and cfg.date_mode == "study_day")})
    below = classes[classes["BELOW_THRESHOLD"] == "Y"]
    lines = [f"# {study.title}", "",
             f"Individual participant data of {study.study_id} (protocol {study.protocol}), de-identified for sharing.",
             f"{participants} participants.", "",
             "## What is inside", "",
             "| folder | dataset | records | formats |", "|---|---|---|---|"]
    for name, (layer, n) in sorted(counts.items(), key=lambda kv: (kv[1][0] != "sdtm", kv[0])):
        lines.append(f"| {layer}/ | {name} | {n} | Parquet, CSV |")
    lines += ["",
              "- `sdtm/`: SDTMIG 3.4 datasets; `adam/`: ADaMIG 1.3 datasets. Parquet files carry the dataset and "
              "variable labels in their metadata; CSV files are UTF-8, dates in ISO 8601, text cells that a "
              "spreadsheet would run as a formula start with a single quote.",
              "- `deid/`: the de-identification report (`report.html`; the same tables as CSV) and the rule "
              "table that was applied (`deid_rules.csv`).",
              *([f"- `docs/`: {', '.join(docs)} (protocol and analysis conventions)."] if docs else []),
              "- `SHA256SUMS`: checksums of every file; check with `sha256sum -c SHA256SUMS`.", "",
              "## How de-identification changed the data", "",
              "Following the PhUSE de-identification standard's rule types, each variable was treated by the "
              "rule named for it in `deid/deid_rules.csv` (report: `deid/rules_applied.csv`).", "",
              f"- Participants have new identifiers (`{cfg.subject_prefix}0001` ...; USUBJID = STUDYID-SUBJID) in a "
              "random order; they cannot be linked to the site's records without a key the sponsor keeps. "
              "Specimen and reference ids are replaced by keyed pseudonyms."]
    if cfg.date_mode == "offset":
        lines.append("- Dates: every date and date-time of a participant was moved by the same number of days, "
                     "chosen at random for each participant (not disclosed). Intervals within a participant "
                     "(study days, durations, time-to-event values) are unchanged; dates of different "
                     "participants cannot be compared on a calendar. A partial date (year, or year and month) "
                     "keeps its precision: it was shifted from the middle of its period and cut back, so an "
                     "interval to it is exact only to that precision.")
    else:
        lines.append("- Dates: calendar dates were removed; study days (--DY, ADY), durations and time-to-event "
                     "values are kept.")
    lines += [f"- Ages above {cfg.age_cap} are shown as {cfg.age_cap + 1}, meaning {cfg.age_cap + 1} or older. "
              "Birth dates are removed.",
              {"pool": f"- Sites are pooled into one value ({cfg.sites.pooled_value}).",
               "recode": f"- Sites are recoded to neutral codes ({cfg.sites.recode_prefix}01 ...).",
               "keep": "- Site identifiers are kept."}[cfg.sites.mode],
              f"- Free text (verbatim terms, comments, supplemental text) was reviewed by pattern: {len(redactions)} "
              "values that looked like a name, telephone, ID number, date, e-mail or address were replaced by "
              "`[REDACTED]`.",
              f"- Removed variables or records: {', '.join(removed) if removed else 'none'}.",
              f"- k-anonymity over {' x '.join(cfg.kanon.quasi_identifiers)}: {len(below)} of {len(classes)} "
              f"combinations hold fewer than {cfg.kanon.threshold} participants (see `deid/report.html`).", "",
              "## Conditions of use", "", cfg.conditions.strip(), "",
              "## How to cite", "", cfg.citation.strip(), "",
              "## Contact", "", cfg.contact.strip(), ""]
    return "\n".join(lines)
