"""Ingest: one typed, staged table per source, each row keeping its lineage (file, record)."""
