"""Loaders for public data formats; each returns an ``xr.Dataset`` following ``gridopt.io.series``."""
