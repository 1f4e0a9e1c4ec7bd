"""The workbench's Jupyter Server extension and launchers (placeholder, being built)."""
