"""The ground floor: CDISC vocabulary every layer shares (findings, ISO 8601 dates, lab results)."""
