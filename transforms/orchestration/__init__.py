"""Glue between Airflow and the pipeline steps: settings, task bodies, failure messages, the embedded runner.

Only `local` imports Airflow (inside its functions); the rest takes and returns plain values so that
it can be tested without a scheduler and imported cheaply by the DAG files.
"""
