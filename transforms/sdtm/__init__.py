"""SDTM: one builder per domain, driven by the study's mapping specification."""
