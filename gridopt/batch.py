"""Many runs on dask.distributed: models × variants, idempotent, one failure never stops the rest.

A *variants file* (TOML) names variants of a model as overrides of its fields::

    [common]                          # applied to every variant (optional)
    time.hours = 24

    [variants.no_carbon_price]
    policy.carbon_price_per_t = 0

    [variants.big_storage]
    assets.battery.battery_bus84.e_mwh = 8.0     # a list entry by its name …
    assets.battery.0.p_mw = 1.0                  # … or by its index

    [variants.aq_price]
    policy.air_quality = { mode = "price", factor = 10 }

Overrides are merged into the model and validated again with the model file's own rules
(:mod:`gridopt.config`), so a bad override is one ``ConfigError`` line (exit 2) before any task
starts. Setting ``time.hours`` drops the model's ``time.end`` and the other way round.

Each task gets plain values (model file path, overrides, data folder, store folder, run id) and
returns a :class:`TaskResult`: no Pyomo or pandapower object crosses a process. The run id is
deterministic, ``<model>.<variant>.<hash>``, the hash over the input file hashes, the resolved
model and the gridopt version: a rerun skips runs the catalog has as done (``optimal`` or
``infeasible_as_posed``) and redoes the missing and failed ones.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from gridopt import __version__
from gridopt.config import ModelConfig, describe_error, load_model, read_toml
from gridopt.errors import EXIT_OF_STATUS, ConfigError, GridoptError
from gridopt.store import Store, input_hashes

__all__ = [
    "Task",
    "TaskResult",
    "load_variants",
    "apply_overrides",
    "plan_batch",
    "batch_run_id",
    "run_task",
    "run_batch",
    "batch_exit_code",
    "dask_client",
]

DONE = ("optimal", "infeasible_as_posed")
"""Catalog statuses a rerun skips; anything else (or no row) is run again."""
BASE_VARIANT = "base"

VariantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,30}$")]


class _VariantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    common: dict[str, Any] = {}
    variants: dict[VariantName, dict[str, Any]] = {}


@dataclass(frozen=True)
class Task:
    """One run of a batch, in plain values a dask worker can receive.

    ``model``: absolute path of the model file; ``overrides``: nested dict merged into it
    (already validated); ``data_dir``/``store``: folders; ``run_id``: the id it is stored under;
    ``co2_signal``: the model's CO2 signal (marginal or average), for the summary.
    """

    model: str
    model_name: str
    variant: str
    overrides: dict
    data_dir: str | None
    store: str
    run_id: str
    co2_signal: str = "marginal"


@dataclass(frozen=True)
class TaskResult:
    """What became of a task. ``status``: the run's status, or ``failed`` with ``message``.

    ``seconds``: wall time of the task (None when skipped); ``co2_avoided_t``: CO2 avoided
    against the baseline on the model's CO2 signal, t; ``cost``: total cost of the run in the
    model's currency; ``skipped``: the store already had the run.
    """

    model: str
    variant: str
    run_id: str
    status: str
    exit_code: int
    seconds: float | None = None
    co2_avoided_t: float | None = None
    cost: float | None = None
    message: str = ""
    skipped: bool = False


# ---- variants -----------------------------------------------------------------------------


def load_variants(path: Path | str | None) -> dict[str, dict]:
    """Variant name → overrides (``[common]`` merged in) from a variants file; None: one 'base'."""
    if path is None:
        return {BASE_VARIANT: {}}
    path = Path(path)
    raw = read_toml(path, "variants file")
    try:
        parsed = _VariantsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_file_error(exc)}") from None
    if not parsed.variants:
        raise ConfigError(f"{path}: variants: at least one [variants.<name>] table is required")
    return {name: _merged_dicts(parsed.common, own) for name, own in parsed.variants.items()}


def _file_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = ".".join(str(part) for part in err["loc"] if part != "[key]")
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key (expected one of: common, variants)"
    if err["type"] == "string_pattern_mismatch":
        return f"{loc}: variant names must be 1-30 characters from A-Z a-z 0-9 _ - (got {err['input']!r})"
    return f"{loc}: {err['msg'].replace('Input should be', 'must be')} (got {err.get('input')!r})"


def _merged_dicts(base: dict, extra: dict) -> dict:
    """``base`` updated by ``extra``, nested tables merged key by key (neither is changed)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged_dicts(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(config: ModelConfig, overrides: dict, *, where: str) -> ModelConfig:
    """The model with ``overrides`` merged in and validated again; ``where`` starts the errors."""
    if not overrides:
        return config
    data = config.model_dump()
    window = overrides.get("time", {})
    if isinstance(window, dict) and ("hours" in window) != ("end" in window):
        data["time"]["end" if "hours" in window else "hours"] = None  # one of them replaces the other
    _merge_into(data, overrides, where, "")
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe_error(exc)}") from None


def _merge_into(target: dict | list, overrides: dict, where: str, prefix: str) -> None:
    """Merge nested ``overrides`` into ``target`` in place; list entries by index or by name."""
    for key, value in overrides.items():
        here = f"{prefix}{key}"
        slot = _list_slot(target, key, where, here) if isinstance(target, list) else key
        current = target[slot] if isinstance(target, list) or slot in target else None
        if isinstance(value, dict) and isinstance(current, (dict, list)):
            _merge_into(current, value, where, here + ".")
        else:
            target[slot] = copy.deepcopy(value)


def _list_slot(items: list, key: str, where: str, here: str) -> int:
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if key.isdigit() and int(key) < len(items):
        return int(key)
    if key in names:
        return names.index(key)
    raise ConfigError(
        f"{where}: {here}: no such entry (expected an index 0-{len(items) - 1} or one of: "
        f"{', '.join(str(n) for n in names)})"
    )


# ---- planning -----------------------------------------------------------------------------


def plan_batch(
    models: Sequence[str | Path],
    variants_file: Path | str | None = None,
    *,
    store: Store,
    data_dir: Path | str | None = None,
) -> list[Task]:
    """Every model × variant as a task, validated and with its run id (duplicates dropped).

    Raises ``ConfigError`` (exit 2) for a bad model, variants file or override, before any run.
    """
    variants = load_variants(variants_file)
    tasks: dict[str, Task] = {}
    for model in models:
        base = load_model(model, data_dir)
        for name, overrides in variants.items():
            where = f"{variants_file}: variant {name!r}" if variants_file else str(base.path)
            config = apply_overrides(base, overrides, where=where)
            run_id = batch_run_id(config, name)
            tasks.setdefault(run_id, Task(
                model=str(base.path), model_name=config.name, variant=name, overrides=overrides,
                data_dir=None if base.data_dir is None else str(base.data_dir),
                store=str(store.root), run_id=run_id, co2_signal=config.policy.co2_signal))
    return list(tasks.values())


def batch_run_id(config: ModelConfig, variant: str) -> str:
    """``<model>.<variant>.<16 hex>``: SHA-256 of the input file hashes, the resolved model and
    the gridopt version. Same inputs, same id; any change to a file, a field or the code, a new id."""
    from gridopt.run import run_inputs

    content = {
        "inputs": input_hashes(run_inputs(config), config.path),
        "config": config.model_dump(mode="json", exclude={"path", "data_dir"}),
        "gridopt": __version__,
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", config.name).strip("_")[:30] or "model"
    return f"{slug}.{variant}.{digest[:16]}"


# ---- one task (runs in a dask worker) -----------------------------------------------------


class _PinnedStore(Store):
    """A store whose saves use the task's run id, replacing a failed or partial earlier one."""

    def __init__(self, root: str, run_id: str) -> None:
        super().__init__(root)
        self.run_id = run_id

    def save(self, results, **kwargs) -> str:
        return super().save(results, run_id=self.run_id, overwrite=True, **kwargs)


def run_task(task: Task) -> TaskResult:
    """Run one task and store it under ``task.run_id``; never raises.

    A ``GridoptError`` becomes its own message and exit code; anything else one line, exit 1.
    """
    from gridopt.run import run_model

    start = perf_counter()
    try:
        config = apply_overrides(load_model(task.model, task.data_dir), task.overrides,
                                 where=f"variant {task.variant!r}")
        store = _PinnedStore(task.store, task.run_id)
        run_model(config, store=store)
        return _result(task, store, seconds=perf_counter() - start)
    except GridoptError as exc:
        return _failed(task, str(exc), exc.exit_code, perf_counter() - start)
    except Exception as exc:  # one line in the summary, never a traceback
        return _failed(task, f"internal error: {type(exc).__name__}: {exc}", 1, perf_counter() - start)


def _result(task: Task, store: Store, *, seconds: float | None = None, skipped: bool = False) -> TaskResult:
    """The task's outcome as the catalog records it."""
    record = store.get(task.run_id)
    status = record.status or "unknown"
    return TaskResult(
        model=task.model_name, variant=task.variant, run_id=task.run_id, status=status,
        exit_code=EXIT_OF_STATUS.get(status, 1), seconds=seconds,
        co2_avoided_t=record.kpis.get(f"co2_{task.co2_signal}_avoided_t"), cost=record.kpis.get("cost_total"),
        skipped=skipped)


def _failed(task: Task, message: str, code: int, seconds: float | None) -> TaskResult:
    return TaskResult(model=task.model_name, variant=task.variant, run_id=task.run_id,
                      status="failed", exit_code=code, seconds=seconds,
                      message=" ".join(message.split()))


# ---- the batch ----------------------------------------------------------------------------


def run_batch(
    tasks: Sequence[Task],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    progress: Callable[[TaskResult], None] | None = None,
) -> list[TaskResult]:
    """Run the tasks the store does not have as done; results in the order of ``tasks``.

    Skipped tasks are reported first; the others as they finish (``dask.distributed.as_completed``)
    on a dask scheduler at ``scheduler`` or, by default, a LocalCluster of ``workers`` processes
    with one thread each; each result goes to ``progress`` as it comes. A task whose worker
    dies is reported failed; the others go on.
    """
    results: dict[str, TaskResult] = {}

    def tell(result: TaskResult) -> TaskResult:
        if progress is not None:
            progress(result)
        return result

    todo = []
    for task in tasks:
        if _is_done(task):
            results[task.run_id] = tell(_result(task, Store(task.store), skipped=True))
        else:
            todo.append(task)
    if todo:
        from distributed import as_completed

        with dask_client(scheduler, workers) as client:
            futures = {client.submit(run_task, task, key=f"gridopt-{task.run_id}", pure=False): task
                       for task in todo}
            for future in as_completed(futures):
                task = futures[future]
                results[task.run_id] = tell(_collected(future, task))
    return [results[task.run_id] for task in tasks]


def _is_done(task: Task) -> bool:
    try:
        return Store(task.store).get(task.run_id).status in DONE
    except GridoptError:  # not in the store
        return False


def _collected(future, task: Task) -> TaskResult:
    """The task's result, or a failure when its worker died or dask could not run it."""
    try:
        return future.result()
    except Exception as exc:  # KilledWorker, CancelledError, a lost connection …
        return _failed(task, f"dask: {type(exc).__name__}: {exc}", 1, None)


def batch_exit_code(results: Sequence[TaskResult]) -> int:
    """0 when every run is optimal; else the highest exit code among the tasks (1 internal error,
    2 bad input, 3 infeasible as posed, 4 solver failure or time limit: 4 is the worst)."""
    return max((r.exit_code for r in results), default=0)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator:
    """A ``distributed.Client``: connected to ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``) or to
    a new LocalCluster of ``workers`` processes × 1 thread (no dashboard), closed on exit.

    Workers of an existing cluster must have gridopt installed and see the model, data and
    store folders under the same paths.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise GridoptError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers})")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client
