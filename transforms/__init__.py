"""cdiscflow: clinical-trial site exports to CDISC SDTM and ADaM."""

__version__ = "0.1.0"
