"""CDISC ODM 1.3.2: safe parsing, study metadata and streaming clinical data."""
