"""Sharing individual participant data: a de-identified package of a published release (PhUSE rule types)."""
