"""gridopt: carbon- and air-quality-aware dispatch of renewables, batteries and EV charging."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridopt")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
