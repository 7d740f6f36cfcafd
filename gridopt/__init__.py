"""gridopt: carbon- and air-quality-aware dispatch of renewables, batteries and EV charging."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridopt")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "optimize"]


def __getattr__(name: str):
    # Lazy: ``import gridopt`` must stay light (the Dash app imports it without Pyomo/pandapower).
    if name == "optimize":
        from gridopt.dispatch import optimize

        return optimize
    raise AttributeError(f"module 'gridopt' has no attribute {name!r}")
