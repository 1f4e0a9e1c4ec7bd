"""Notebook pipelines: ``mlaas pipeline list | run NAME | status | show RUN`` (placeholder, being built)."""
