"""Reports read from a release's datasets (the analysis-ready topline)."""
