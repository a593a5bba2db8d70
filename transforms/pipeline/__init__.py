"""The pipeline: the step graph (graph), the run's staged files (workspace), the step bodies (steps),
the release (publish) and a whole run in this process (run)."""
