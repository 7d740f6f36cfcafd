"""The exceptions gridopt raises, each with a one-line message and an exit code.

Hierarchy::

    GridoptError                      any failure gridopt explains itself          exit 1
    ├── InputError(ValueError)        bad input: the message names file/key/element exit 2
    │   ├── ConfigError               a model file (TOML) or its options
    │   ├── NetworkError              a grid model: source, topology, ratings
    │   └── DataError                 a time-series file or the series dataset
    ├── InfeasibleError               the case is infeasible as posed               exit 3
    └── SolverError(RuntimeError)     the solver failed or hit its limit            exit 4

Subclassing the built-in they refine lets callers catch either (``except ValueError`` works).
Messages follow the form ``<where>: <field> must be <expected> (got <value>)``.
"""

from __future__ import annotations

__all__ = [
    "GridoptError",
    "InputError",
    "ConfigError",
    "NetworkError",
    "DataError",
    "InfeasibleError",
    "SolverError",
    "EXIT_OF_STATUS",
]

# Exit code of a run that was solved and stored, by its status: infeasible as posed (slack used) 3;
# stopped at the solver's limit with a feasible, not proven optimal, solution 4 (as a limit
# without one, which stores nothing). Statuses not listed are failures: 1.
EXIT_OF_STATUS = {"optimal": 0, "infeasible_as_posed": 3, "time_limit": 4}


class GridoptError(Exception):
    """Base class; ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __str__(self) -> str:
        # One line, always: a message with newlines would read as a traceback in logs.
        return " ".join(super().__str__().split())


class InputError(GridoptError, ValueError):
    """Input that cannot be used as given."""

    exit_code = 2


class ConfigError(InputError):
    """A model file or option is invalid."""


class NetworkError(InputError):
    """A grid model cannot be loaded or fails a topology or rating check."""


class DataError(InputError):
    """A time-series file or dataset is unreadable or does not cover what is asked."""


class InfeasibleError(GridoptError):
    """The case has no solution without slack; the message says where and by how much."""

    exit_code = 3


class SolverError(GridoptError, RuntimeError):
    """The solver failed, or stopped at a limit without a usable solution."""

    exit_code = 4
