"""Scheduled jobs: gridopt commands on cron expressions, with APScheduler 3.

A *schedule file* (TOML) names jobs::

    [jobs.forecast-morning]
    kind = "forecast"                          # forecast | dayahead | batch | run
    args = ["default", "--issue-time", "{hour}"]
    cron = "0 5 * * *"                         # minute hour day month weekday
    timezone = "Europe/Berlin"                 # of the cron expression (default UTC)

Each job runs ``gridopt [--store S] [--data-dir D] <kind> <args…>`` in a subprocess, so a job
that crashes never takes the scheduler with it. In ``args``, ``{hour}``, ``{today}`` and
``{tomorrow}`` become the current hour, today 00:00 and tomorrow 00:00 (UTC, ISO 8601) when the
job starts.

Under the store folder: ``schedule.sqlite`` is the persistent job store (SQLAlchemy, SQLite)
and ``logs/<job>.log`` each job's log: a start line with the command, the command's own
output, an end line with its exit code and duration, and a line for each missed run.
The schedule file is the truth: on start, jobs are added or updated from it and jobs no longer
in it are removed; a job whose command and cron are unchanged keeps its stored next run time,
which is how runs missed while the scheduler was down are noticed.

Missed runs (policy): runs missed while the scheduler was down or busy are *coalesced* into one,
run when the scheduler comes back if it is at most ``MISFIRE_GRACE_S`` (1 h) late, else
skipped and logged as missed; never more than one instance of a job at a time (a run due while
the previous one still runs is skipped and logged).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from time import perf_counter
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
)

from gridopt.config import TimeZoneName, read_toml
from gridopt.errors import ConfigError
from gridopt.store import Store

__all__ = [
    "Job",
    "load_schedule",
    "run_job",
    "make_scheduler",
    "serve",
    "next_runs",
    "fill_placeholders",
    "job_log_path",
    "KINDS",
    "MISFIRE_GRACE_S",
]

KINDS = ("forecast", "dayahead", "batch", "run")
MISFIRE_GRACE_S = 3600
JOBSTORE_FILE = "schedule.sqlite"
LOG_DIR = "logs"
JOB_DEFAULTS = {"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S, "max_instances": 1}
_LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"

JobName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]


class _JobEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: Literal[KINDS]  # type: ignore[valid-type]
    args: list[str] = []
    cron: str
    timezone: TimeZoneName = "UTC"

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"must be a crontab expression 'minute hour day month weekday' ({exc})") from None
        return value


class _ScheduleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jobs: dict[JobName, _JobEntry] = {}


@dataclass(frozen=True)
class Job:
    """One scheduled job: ``gridopt <kind> <args…>`` at the times of ``cron`` in ``timezone``."""

    name: str
    kind: str
    args: tuple[str, ...]
    cron: str
    timezone: str = "UTC"

    def trigger(self):
        """The APScheduler ``CronTrigger``."""
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.cron, timezone=self.timezone)

    @property
    def argv(self) -> list[str]:
        """The gridopt command line after the global options (placeholders not yet filled)."""
        return [self.kind, *self.args]


def load_schedule(path: Path | str) -> dict[str, Job]:
    """Job name → :class:`Job` from a schedule file; any problem is one ``ConfigError`` line."""
    path = Path(path)
    raw = read_toml(path, "schedule file")
    try:
        parsed = _ScheduleFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    if not parsed.jobs:
        raise ConfigError(f"{path}: jobs: at least one [jobs.<name>] table is required")
    return {name: Job(name, e.kind, tuple(e.args), e.cron, e.timezone) for name, e in parsed.jobs.items()}


def _describe(exc: ValidationError) -> str:
    """The first error (an unknown key first) as ``<key path>: <what is expected> (got …)``."""
    errors = exc.errors(include_url=False)
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = ".".join(str(part) for part in err["loc"] if part != "[key]")
    kind, got = err["type"], err.get("input")
    if kind == "extra_forbidden":
        allowed = "kind, args, cron, timezone" if len(err["loc"]) > 1 else "jobs"
        return f"{loc}: unknown key (expected one of: {allowed})"
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind == "string_pattern_mismatch":
        return f"{loc}: job names must be 1-40 characters from A-Z a-z 0-9 _ - (got {got!r})"
    message = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    return f"{loc}: {message} (got {got!r})"


# ---- one job run ---------------------------------------------------------------------------


def job_log_path(store: Store, name: str) -> Path:
    """``<store>/logs/<job>.log``."""
    return store.root / LOG_DIR / f"{name}.log"


@contextlib.contextmanager
def _job_logger(store: Store, name: str) -> Iterator[logging.Logger]:
    """A logger writing to the job's log file, detached and closed on exit."""
    path = job_log_path(store, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"gridopt.schedule.{name}")
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


def fill_placeholders(args: list[str], now: datetime | None = None) -> list[str]:
    """``{hour}``, ``{today}``, ``{tomorrow}`` in each argument, as UTC ISO 8601 times."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    values = {"hour": now.replace(minute=0, second=0, microsecond=0), "today": today,
              "tomorrow": today + timedelta(days=1)}
    iso = {key: f"{value:%Y-%m-%dT%H:%M:%SZ}" for key, value in values.items()}
    return [re.sub(r"\{(hour|today|tomorrow)\}", lambda m: iso[m.group(1)], arg) for arg in args]


def run_job(name: str, argv: list[str], store_root: str, data_dir: str | None = None) -> int:
    """Run ``gridopt <argv…>`` in a subprocess against the store; log it; return its exit code.

    A child killed by a signal returns ``128 + signal number`` (as a shell reports it).
    """
    store = Store(store_root)
    command = [sys.executable, "-m", "gridopt.cli", "--store", str(store.root),
               *(["--data-dir", data_dir] if data_dir else []), *fill_placeholders(list(argv))]
    with _job_logger(store, name) as log:
        log.info("start: gridopt %s", shlex.join(command[3:]))
        start = perf_counter()
        with open(job_log_path(store, name), "a", encoding="utf-8") as output:
            code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=output,
                                  stderr=subprocess.STDOUT, check=False).returncode
        if code < 0:
            log.info("end: killed by %s after %.1f s", signal.Signals(-code).name, perf_counter() - start)
            return 128 - code
        log.info("end: exit code %d after %.1f s", code, perf_counter() - start)
    return code


# ---- the scheduler -------------------------------------------------------------------------


def make_scheduler(jobs: dict[str, Job], store: Store, data_dir: str | None = None, scheduler_cls=None):
    """An APScheduler scheduler (``BlockingScheduler`` unless ``scheduler_cls``) over the store's
    persistent job store, synchronised with ``jobs``; not started."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    store.root.mkdir(parents=True, exist_ok=True)
    jobstore = SQLAlchemyJobStore(url=f"sqlite:///{store.root / JOBSTORE_FILE}")
    scheduler = (scheduler_cls or BlockingScheduler)(
        jobstores={"default": jobstore}, job_defaults=JOB_DEFAULTS, timezone="UTC")
    kept = _kept_next_runs(scheduler, jobstore, jobs, store, data_dir)
    for job in jobs.values():
        extra = {"next_run_time": kept[job.name]} if job.name in kept else {}
        scheduler.add_job(run_job, job.trigger(), args=_job_args(job, store, data_dir), id=job.name,
                          name=job.name, replace_existing=True, **extra)
    scheduler.add_listener(lambda event: _log_event(store, event), EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _job_args(job: Job, store: Store, data_dir: str | None) -> list:
    return [job.name, job.argv, str(store.root), data_dir]


def _kept_next_runs(scheduler, jobstore, jobs: dict[str, Job], store: Store, data_dir) -> dict:
    """Stored next run times of unchanged jobs; stored jobs no longer in the file are removed."""
    jobstore.start(scheduler, "default")  # creates the table on first use; start() repeats it harmlessly
    kept = {}
    for stored in jobstore.get_all_jobs():
        job = jobs.get(stored.id)
        same = job is not None and stored.args == tuple(_job_args(job, store, data_dir)) and (
            str(stored.trigger) == str(job.trigger())
            and str(stored.trigger.timezone) == job.timezone)
        if same:
            kept[stored.id] = stored.next_run_time
        elif job is None:
            jobstore.remove_job(stored.id)
    return kept


def _log_event(store: Store, event) -> None:
    """A missed run, a run skipped because the previous one still runs, or a job that raised,
    in the job's own log."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    with _job_logger(store, event.job_id) as log:
        if event.code == EVENT_JOB_MISSED:
            log.warning("missed: the run due at %s was more than %d s late and is skipped",
                        f"{event.scheduled_run_time:%Y-%m-%dT%H:%M:%S%z}", MISFIRE_GRACE_S)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("skipped: a run is due while the previous one still runs")
        else:
            log.error("error: the job could not run (%s: %s)",
                      type(event.exception).__name__, event.exception)


def serve(path: Path | str, store: Store, data_dir: str | None = None) -> None:
    """Run the schedule until SIGTERM or Ctrl-C (blocking)."""
    scheduler = make_scheduler(load_schedule(path), store, data_dir)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    scheduler.start()


def next_runs(jobs: dict[str, Job], now: datetime | None = None) -> dict[str, datetime]:
    """Each job's next fire time after ``now`` (UTC, aware)."""
    now = now or datetime.now(timezone.utc)
    return {name: job.trigger().get_next_fire_time(None, now).astimezone(timezone.utc)
            for name, job in jobs.items()}
