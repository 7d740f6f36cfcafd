"""``gridopt schedule``: file validation, ``--once``, the persistent job store, missed runs.

The job-store and missed-run tests drive the real APScheduler scheduler (a BackgroundScheduler
over the same SQLite job store ``gridopt schedule`` uses) with a job that exits fast (a run of a
model that does not exist: exit 2); ``--once`` runs a real 6-hour dispatch (~15 s).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from gridopt.cli import main
from gridopt.schedule import (
    Job,
    fill_placeholders,
    job_log_path,
    load_schedule,
    make_scheduler,
)
from gridopt.store import Store


def _write(tmp_path, body: str):
    path = tmp_path / "schedule.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(("body", "expected"), [
    ('[jobs.a]\nkind = "run"\ncron = "0 25 * * *"\n',
     "jobs.a.cron: must be a crontab expression 'minute hour day month weekday' (Error validating "
     "expression '25': the last value (25) is higher than the maximum value (23)) (got '0 25 * * *')"),
    ('[jobs.a]\nkind = "run"\ncron = "0 6 * *"\n', "jobs.a.cron: must be a crontab expression"),
    ('[jobs.a]\nkind = "optimize"\ncron = "0 6 * * *"\n',
     "jobs.a.kind: must be 'forecast', 'dayahead', 'batch' or 'run' (got 'optimize')"),
    ('[jobs.a]\nkind = "run"\ncron = "0 6 * * *"\ncorn = "x"\n',
     "jobs.a.corn: unknown key (expected one of: kind, args, cron, timezone)"),
    ('[jobs.a]\nkind = "run"\ncron = "0 6 * * *"\ntimezone = "Mars/Olympus"\n',
     "jobs.a.timezone: must be an IANA time zone name such as 'Europe/Berlin' (got 'Mars/Olympus')"),
    ('[jobs.a]\nkind = "run"\ncron = "0 6 * * *"\nargs = "default"\n', "jobs.a.args: must be a valid list"),
    ('[jobs."a b"]\nkind = "run"\ncron = "0 6 * * *"\n', "jobs.a b: job names must be 1-40 characters"),
    ('[jobs.a]\ncron = "0 6 * * *"\n', "jobs.a.kind: required key is missing"),
    ('[job.a]\n', "job: unknown key (expected one of: jobs)"),
    ('', "jobs: at least one [jobs.<name>] table is required"),
])
def test_a_bad_schedule_file_exits_2_with_one_line(tmp_path, capsys, body, expected):
    path = _write(tmp_path, body)
    code = main(["--store", str(tmp_path / "store"), "schedule", str(path), "--list"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"{path}: " in err and expected in err, err


def test_once_runs_a_job_records_its_exit_code_and_logs_it(tmp_path, capsys):
    path = _write(tmp_path, """
[jobs.day-run]
kind = "run"
args = ["default", "--hours", "6", "--no-ac"]
cron = "0 6 * * *"

[jobs.bad-batch]
kind = "batch"
args = ["default", "--variants", "no-such-variants.toml"]
cron = "0 7 * * *"
""")
    store = Store(tmp_path / "store")
    assert main(["--store", str(store.root), "schedule", str(path), "--once", "day-run"]) == 0
    records = store.list()
    assert len(records) == 1 and records[0].status == "optimal"
    log = job_log_path(store, "day-run").read_text().splitlines()
    assert log[0].endswith(f"start: gridopt --store {store.root} run default --hours 6 --no-ac")
    assert f"stored as run {records[0].run_id}" in "\n".join(log)  # the command's own output
    assert " end: exit code 0 after " in log[-1]
    # A batch job that fails: its exit code is the command's, and the reason is in its log.
    assert main(["--store", str(store.root), "schedule", str(path), "--once", "bad-batch"]) == 2
    log = job_log_path(store, "bad-batch").read_text()
    assert "no-such-variants.toml: cannot read the variants file" in log
    assert log.rstrip().splitlines()[-1].split(" INFO ")[1].startswith("end: exit code 2 after")
    capsys.readouterr()
    assert main(["--store", str(store.root), "schedule", str(path), "--once", "nope"]) == 2
    assert "--once 'nope': no such job (have: day-run, bad-batch)" in capsys.readouterr().err


def test_placeholders_are_utc_times_when_the_job_starts():
    now = datetime(2026, 3, 29, 23, 40, tzinfo=timezone(timedelta(hours=2)))  # 21:40 UTC
    assert fill_placeholders(["--issue-time", "{hour}", "{today}/{tomorrow}"], now) == [
        "--issue-time", "2026-03-29T21:00:00Z", "2026-03-29T00:00:00Z/2026-03-30T00:00:00Z"]


def _fail_fast(tmp_path, cron: str):
    """A schedule of one job that exits 2 at once (its model does not exist)."""
    path = _write(tmp_path, f'[jobs.quick]\nkind = "run"\nargs = ["no-such-model"]\ncron = "{cron}"\n')
    return load_schedule(path)


def _scheduler(jobs, store):
    return make_scheduler(jobs, store, scheduler_cls=BackgroundScheduler)


def test_the_job_store_persists_across_scheduler_instances(tmp_path):
    store = Store(tmp_path / "store")
    jobs = _fail_fast(tmp_path, "0 6 * * *")
    first = _scheduler(jobs, store)
    first.start(paused=True)
    now = datetime.now(timezone.utc)
    assert first.get_job("quick").next_run_time == jobs["quick"].trigger().get_next_fire_time(None, now)
    first.shutdown()
    past = now - timedelta(days=3)  # as if the scheduler had been down since
    _set_next_run(store, past)

    second = _scheduler(jobs, store)  # a new instance reads the SQLite job store
    second.start(paused=True)
    assert second.get_job("quick").next_run_time == past
    second.shutdown()

    changed = {"quick": Job("quick", "run", ("no-such-model",), "30 6 * * *")}
    third = _scheduler(changed, store)  # a changed cron replaces the stored job and its time
    third.start(paused=True)
    assert third.get_job("quick").next_run_time > now
    third.shutdown()
    gone = _scheduler({"other": Job("other", "run", (), "0 6 * * *")}, store)
    gone.start(paused=True)  # the file is the truth: a job no longer in it leaves the store
    assert [job.id for job in gone.get_jobs()] == ["other"]
    gone.shutdown()
    assert (store.root / "schedule.sqlite").is_file()


def _set_next_run(store: Store, when: datetime) -> None:
    """Write the job's next run time into the SQLite job store, no scheduler running (a paused
    BackgroundScheduler would still try to run a due job once while it shuts down)."""
    jobstore = SQLAlchemyJobStore(url=f"sqlite:///{store.root / 'schedule.sqlite'}")
    jobstore.start(BackgroundScheduler(), "default")
    job = jobstore.lookup_job("quick")
    job.next_run_time = when
    jobstore.update_job(job)
    jobstore.shutdown()


def _come_back(jobs, store, missed_since: datetime, wait_for: str) -> list[str]:
    """Store ``missed_since`` as the next run time, start a scheduler as if it came back now,
    and return the job's log once it holds ``wait_for``."""
    down = _scheduler(jobs, store)
    down.start(paused=True)
    down.shutdown()
    _set_next_run(store, missed_since)
    back = _scheduler(jobs, store)
    back.start()
    log = job_log_path(store, "quick")
    deadline = time.monotonic() + 60
    try:
        while not (log.is_file() and wait_for in log.read_text()):
            assert time.monotonic() < deadline, "the scheduler did not act on the missed runs"
            time.sleep(0.1)
        assert back.get_job("quick").next_run_time > datetime.now(timezone.utc)
    finally:
        back.shutdown(wait=True)
    return log.read_text().splitlines()


def test_missed_runs_within_the_hour_run_once(tmp_path):
    store = Store(tmp_path / "store")
    jobs = _fail_fast(tmp_path, "*/15 * * * *")
    # Down for 3 h: 12 runs missed, the last less than 15 min ago: coalesced into one run now.
    lines = _come_back(jobs, store, datetime.now(timezone.utc) - timedelta(hours=3), "end: exit code")
    assert sum(" start: " in line for line in lines) == 1
    assert " end: exit code 2 after " in lines[-1]
    assert not any(" missed: " in line for line in lines)


def test_a_run_missed_by_more_than_the_hour_is_skipped_and_logged(tmp_path):
    store = Store(tmp_path / "store")
    due = datetime.now(timezone.utc) - timedelta(hours=3)
    jobs = _fail_fast(tmp_path, f"{due.minute} {due.hour} * * *")  # daily, last due 3 h ago
    lines = _come_back(jobs, store, due - timedelta(days=2), " missed: ")
    # Three missed days coalesce into one, the latest, 3 h late: skipped and logged, not run.
    assert len(lines) == 1 and " WARNING missed: the run due at " in lines[0]
    assert f"{due:%Y-%m-%dT%H:%M}" in lines[0] and "more than 3600 s late" in lines[0]
