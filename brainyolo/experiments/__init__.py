"""Experiments: run files, the demo, farming images out over a Dask cluster."""
