"""Tools beside the cdiscflow library, never imported by it at run time: the synthetic-drop generator
(`synth`, behind `cdiscflow synth` and `make demo`) and the pharmaverse admiral reference comparison
(`admiral_reference`, test-only)."""
