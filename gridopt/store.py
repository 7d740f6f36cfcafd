"""The run store: one folder per run (results NetCDF + manifest) and a SQLite catalog.

Layout under the store root (``$GRIDOPT_STORE``, else ``./gridopt-runs``)::

    catalog.sqlite              table ``runs``: one row per visible run (WAL mode)
    runs/<run_id>/results.nc    the results dataset, CF NetCDF-4, floats zlib-compressed
    runs/<run_id>/manifest.json run id, model, created (UTC), status, objective, KPIs,
                                input hashes, package versions, options, explanation lines
    runs/.tmp-*                 work in progress or left by a crash; never read

Crash safety: a run is written into ``runs/.tmp-<run_id>-<pid>/`` (files fsynced), renamed into
place with ``os.replace`` and only then entered in the catalog, in one transaction. Readers list a
run only when it has a catalog row AND its folder, so a crash at any point leaves nothing
half-written visible; :meth:`Store.repair` tidies what a crash leaves behind.

This module is imported by the Dash app: it must not import pandapower, pyomo, highspy or
statsmodels (package versions are read with ``importlib.metadata``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError

__all__ = ["Store", "RunRecord", "RepairReport", "hash_file", "input_hashes", "versions"]

RESULTS_FILE = "results.nc"
MANIFEST_FILE = "manifest.json"
CATALOG_FILE = "catalog.sqlite"
TMP_PREFIX = ".tmp-"
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,80}")  # used with fullmatch
ZLIB_LEVEL = 2  # float variables; 1-4 trades little size for much speed on dispatch results
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's catalog transaction
KPI_PREFIX = "kpi_"
_VERSIONED = ("gridopt", "pandapower", "pyomo", "highspy", "xarray", "numpy", "netCDF4")
_TIME_UNITS = ("hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT,
    created TEXT,
    status TEXT,
    objective REAL,
    kpis TEXT,
    input_hashes TEXT,
    versions TEXT,
    path TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
"""
_COLUMNS = ("run_id", "model", "created", "status", "objective", "kpis", "input_hashes",
            "versions", "path")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One visible run as the catalog describes it.

    ``created`` is timezone-aware UTC; ``objective`` is None when the solver gave none;
    ``kpis`` maps a KPI name (units in the name, e.g. ``co2_avoided_marginal_t``) to its value;
    ``path`` is the run folder.
    """

    run_id: str
    model: str
    created: datetime
    status: str | None
    objective: float | None
    kpis: dict[str, float | None]
    path: Path


@dataclasses.dataclass(frozen=True)
class RepairReport:
    """What :meth:`Store.repair` did; each field lists folder names or run ids."""

    removed_tmp: list[str]
    dropped_rows: list[str]
    recovered: list[str]
    removed_orphans: list[str]

    def __str__(self) -> str:
        parts = [
            f"removed {len(self.removed_tmp)} temporary folder(s)",
            f"dropped {len(self.dropped_rows)} catalog row(s) without a folder",
            f"re-registered {len(self.recovered)} complete run folder(s) missing from the catalog",
            f"removed {len(self.removed_orphans)} incomplete run folder(s)",
        ]
        named = (self.removed_tmp, self.dropped_rows, self.recovered, self.removed_orphans)
        return "; ".join(p + (f" ({', '.join(n)})" if n else "") for p, n in zip(parts, named))


def hash_file(path: Path | str) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"{path}: input file cannot be read to hash it ({exc.strerror})") from None
    return digest.hexdigest()


def versions() -> dict[str, str | None]:
    """Installed versions of gridopt and the packages that shape its results (None: not installed).

    Read from package metadata, so nothing heavy (pandapower, pyomo) is imported.
    """
    found: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    found["python"] = platform.python_version()
    return found


class Store:
    """A folder of runs with a catalog; safe for several processes writing at once."""

    def __init__(self, root: Path | str | None = None) -> None:
        if root is None:
            root = os.environ.get("GRIDOPT_STORE") or "gridopt-runs"
        self.root = Path(root).absolute()
        self.runs_dir = self.root / "runs"
        self.catalog_path = self.root / CATALOG_FILE

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ---- writing ------------------------------------------------------------------------

    def save(
        self,
        results: xr.Dataset,
        *,
        model: str,
        inputs: Mapping[str, Path | bytes | str] = {},
        options: Mapping = {},
        run_id: str | None = None,
        model_file: Path | str | None = None,
        overwrite: bool = False,
    ) -> str:
        """Write a results dataset as a new run and return its id.

        ``inputs`` are hashed into the manifest: a ``Path`` by its file's bytes, ``bytes`` as
        given, a ``str`` as UTF-8 text (e.g. a built-in network name; pass a ``Path`` for a
        file). ``model_file`` (the TOML) is recorded by path and hashed as input ``model_file``.
        ``options`` must be JSON-serializable (paths, dates and numpy scalars are converted).
        Status, objective, explanation and ``kpi_<name>`` values are read from the attrs of
        ``results``. An existing id is refused unless ``overwrite``.
        """
        run_id = _new_run_id() if run_id is None else _checked_id(run_id)
        final = self.runs_dir / run_id
        if not overwrite and (final.exists() or self._row(run_id) is not None):
            raise DataError(f"run {run_id!r} already exists in {self.root} (pass overwrite=True)")
        hashes = input_hashes(inputs, model_file)
        manifest = _manifest(results, run_id, model, model_file, hashes, options)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.runs_dir / f"{TMP_PREFIX}{run_id}-{os.getpid()}"
        try:
            _write_run(tmp, results, manifest)
            replaced = self._move_into_place(tmp, final, overwrite)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            self._insert(_row_from_manifest(manifest), replace=overwrite)
        except BaseException:  # no catalog row: take the folder away so no orphan is left
            shutil.rmtree(_move_aside(final, "failed"), ignore_errors=True)
            raise
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
        return run_id

    def _move_into_place(self, tmp: Path, final: Path, overwrite: bool) -> Path | None:
        """Rename ``tmp`` to ``final``; an overwritten run is moved aside and its path returned."""
        aside = _move_aside(final, "old") if overwrite and final.exists() else None
        try:
            os.replace(tmp, final)
        except OSError as exc:  # another process put a run with this id in place first
            raise DataError(
                f"run {final.name!r} already exists in {self.root} ({exc.strerror})"
            ) from None
        _fsync(self.runs_dir)
        return aside

    def delete(self, run_id: str) -> None:
        """Remove a run: folder first (renamed aside, so readers stop seeing it), then its row."""
        aside = _move_aside(self.get(run_id).path, "deleted")
        with self._connect(write=True) as db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        shutil.rmtree(aside, ignore_errors=True)

    def repair(self, older_than: timedelta = timedelta(hours=1)) -> RepairReport:
        """Clean up after crashes and report what was done.

        Removes ``.tmp-*`` folders untouched for ``older_than`` (younger ones may be saves in
        progress), drops catalog rows whose folder vanished, and for run folders without a
        row (a crash between the rename and the catalog insert) older than ``older_than``:
        re-registers them from their manifest when complete, removes them otherwise.
        """
        removed_tmp, recovered, removed_orphans = [], [], []
        if not self.runs_dir.is_dir():
            return RepairReport([], [], [], [])
        cutoff = time.time() - older_than.total_seconds()
        catalogued = {row["run_id"] for row in self._rows("SELECT run_id FROM runs", ())}
        for folder in sorted(self.runs_dir.iterdir()):
            if not folder.is_dir() or _last_touched(folder) > cutoff:
                continue
            if folder.name.startswith(TMP_PREFIX):
                shutil.rmtree(folder, ignore_errors=True)
                removed_tmp.append(folder.name)
            elif folder.name not in catalogued:
                if self._recover(folder):
                    recovered.append(folder.name)
                else:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed_orphans.append(folder.name)
        with self._connect(write=True) as db:  # checked under the write lock: no insert races
            rows = db.execute("SELECT run_id, path FROM runs ORDER BY run_id").fetchall()
            dropped = [r["run_id"] for r in rows if not (self.root / r["path"]).is_dir()]
            db.executemany("DELETE FROM runs WHERE run_id = ?", [(r,) for r in dropped])
        return RepairReport(removed_tmp, dropped, recovered, removed_orphans)

    def _recover(self, folder: Path) -> bool:
        """Enter a complete run folder (readable manifest, results file present) in the catalog."""
        try:
            manifest = json.loads((folder / MANIFEST_FILE).read_text())
            row = _row_from_manifest(manifest)
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if row[0] != folder.name or not (folder / RESULTS_FILE).is_file():
            return False
        self._insert(row, replace=False)
        return True

    # ---- reading ------------------------------------------------------------------------

    def list(
        self, model: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        """Visible runs, newest first, optionally of one model and/or status, at most ``limit``."""
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise DataError(f"{self.root}: limit must be a positive integer (got {limit!r})")
        where, args = [], []
        for column, value in (("model", model), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        records = []
        for row in self._rows(sql + " ORDER BY created DESC, run_id DESC", tuple(args)):
            record = self._record(row)
            if record.path.is_dir():
                records.append(record)
                if len(records) == limit:
                    break
        return records

    def get(self, run_id: str) -> RunRecord:
        """The catalog record of a visible run; an unknown id is a DataError."""
        row = self._row(_checked_id(run_id))
        if row is None or not (self.root / row["path"]).is_dir():
            raise DataError(f"run {run_id!r} is not in the store {self.root}")
        return self._record(row)

    def open(self, run_id: str) -> xr.Dataset:
        """The results dataset of a run, loaded into memory (the file is closed on return)."""
        path = self.get(run_id).path / RESULTS_FILE
        try:
            with xr.open_dataset(path, engine="netcdf4") as ds:
                return ds.load()
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise DataError(
                f"run {run_id}: results file is missing or unreadable ({path}: {exc})"
            ) from None

    def manifest(self, run_id: str) -> dict:
        """The run's ``manifest.json`` as a dict."""
        path = self.get(run_id).path / MANIFEST_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(
                f"run {run_id}: manifest is missing or unreadable ({path}: {exc})"
            ) from None

    def export_csv(self, run_id: str, variable: str | None, out: Path | str) -> Path:
        """Write results as CSV (long format) and return what was written.

        With ``variable``: one file ``out``, one column per dimension and a value column named
        after the variable (its name carries the unit, e.g. ``gen_p_mw``); times are UTC
        ISO 8601 with ``Z``. With None: a new (or empty) folder ``out`` holding one CSV per data
        variable plus ``kpis.csv`` (columns ``kpi``, ``value``). Written atomically.
        """
        ds = self.open(run_id)
        out = Path(out)
        if variable is not None:
            if variable not in ds.data_vars:
                names = sorted(ds.data_vars)
                raise DataError(f"run {run_id}: variable must be one of {names} (got {variable!r})")
            if out.is_dir():
                raise DataError(f"{out}: CSV output must be a file path, not a folder")
            _write_atomic(out, lambda tmp: _variable_frame(ds[variable]).to_csv(tmp, **_CSV))
            return out
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise DataError(f"{out}: export folder must be new or empty")
        tmp = out.with_name(f"{TMP_PREFIX}{out.name}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            for name, var in ds.data_vars.items():
                _variable_frame(var).to_csv(tmp / f"{name}.csv", **_CSV)
            _kpis_frame(ds.attrs).to_csv(tmp / "kpis.csv", **_CSV)
            for f in [*tmp.iterdir(), tmp]:
                _fsync(f)
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(out.parent)
        return out

    # ---- catalog ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A catalog connection (created on demand); ``write`` wraps the block in one
        ``BEGIN IMMEDIATE`` transaction, committed on success and rolled back on error.
        A duplicate run id surfaces as ``sqlite3.IntegrityError``, other catalog errors as
        DataError."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.catalog_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise DataError(f"{self.catalog_path}: catalog cannot be opened ({exc})") from None
        db.row_factory = sqlite3.Row
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
            if write:
                db.execute("BEGIN IMMEDIATE")
            yield db
            if write:
                db.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise DataError(
                f"{self.catalog_path}: catalog is unreadable or locked ({exc})"
            ) from None
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.close()

    def _rows(self, sql: str, args: tuple) -> list[sqlite3.Row]:
        if not self.catalog_path.exists():
            return []
        with self._connect() as db:
            return db.execute(sql, args).fetchall()

    def _row(self, run_id: str) -> sqlite3.Row | None:
        rows = self._rows("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return rows[0] if rows else None

    def _insert(self, row: tuple, *, replace: bool) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        marks = ", ".join("?" * len(_COLUMNS))
        try:
            with self._connect(write=True) as db:
                db.execute(f"{verb} INTO runs ({', '.join(_COLUMNS)}) VALUES ({marks})", row)
        except sqlite3.IntegrityError:
            raise DataError(f"run {row[0]!r} already exists in {self.root}") from None

    def _record(self, row: sqlite3.Row) -> RunRecord:
        return RunRecord(
            run_id=row["run_id"],
            model=row["model"],
            created=datetime.fromisoformat(row["created"]),
            status=row["status"],
            objective=row["objective"],
            kpis=json.loads(row["kpis"]),
            path=self.root / row["path"],
        )


# ---- run ids, manifest ------------------------------------------------------------------


def _new_run_id() -> str:
    """UTC timestamp plus a random suffix, e.g. ``20261122T120102Z-3fa9c1``."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _checked_id(run_id: str) -> str:
    """The id if it is a safe folder name; ids starting with '.' ('..', '.tmp-x') are refused."""
    valid = isinstance(run_id, str) and RUN_ID_PATTERN.fullmatch(run_id)
    if not valid or run_id.startswith("."):
        raise DataError(
            "run id must be 1-80 characters from A-Z a-z 0-9 . _ - not starting with '.' "
            f"(got {run_id!r})"
        )
    return run_id


def input_hashes(inputs: Mapping[str, Path | bytes | str], model_file: Path | str | None) -> dict:
    hashes = {}
    for name, value in inputs.items():
        if isinstance(value, Path):
            hashes[name] = hash_file(value)
        elif isinstance(value, (bytes, str)):
            data = value.encode() if isinstance(value, str) else value
            hashes[name] = hashlib.sha256(data).hexdigest()
        else:
            kind = type(value).__name__
            raise DataError(f"input {name!r} must be a Path, bytes or str (got {kind})")
    if model_file is not None:
        hashes.setdefault("model_file", hash_file(model_file))
    return hashes


def _manifest(
    results: xr.Dataset,
    run_id: str,
    model: str,
    model_file: Path | str | None,
    hashes: dict,
    options: Mapping,
) -> dict:
    attrs = results.attrs
    manifest = {
        "run_id": run_id,
        "model": model,
        "model_file": str(Path(model_file).absolute()) if model_file is not None else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "status": None if attrs.get("status") is None else str(attrs["status"]),
        "objective": _finite(attrs.get("objective")),
        "kpis": _kpis(attrs),
        "input_hashes": hashes,
        "versions": versions(),
        "options": dict(options),
        "explanation": [ln for ln in str(attrs.get("explanation", "")).splitlines() if ln.strip()],
    }
    try:
        json.dumps(manifest, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataError(f"run {run_id}: options must be JSON-serializable ({exc})") from None
    return manifest


def _kpis(attrs: Mapping) -> dict[str, float | None]:
    """KPIs from ``kpi_<name>`` attrs, keyed by ``<name>``."""
    return {k[len(KPI_PREFIX):]: _finite(v) for k, v in attrs.items() if k.startswith(KPI_PREFIX)}


def _finite(value) -> float | None:
    """A float, or None for a missing or non-finite value (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serializable")


def _row_from_manifest(manifest: dict) -> tuple:
    """The catalog row (in ``_COLUMNS`` order) a manifest describes."""
    run_id = manifest["run_id"]
    return (
        run_id,
        manifest["model"],
        manifest["created"],
        manifest["status"],
        manifest["objective"],
        json.dumps(manifest["kpis"]),
        json.dumps(manifest["input_hashes"]),
        json.dumps(manifest["versions"]),
        f"runs/{run_id}",
    )


# ---- files ------------------------------------------------------------------------------


def _write_run(folder: Path, results: xr.Dataset, manifest: dict) -> None:
    """Write results and manifest into a fresh ``folder``, everything fsynced."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    nc = folder / RESULTS_FILE
    ds = results.drop_encoding()
    try:
        ds.to_netcdf(nc, engine="netcdf4", format="NETCDF4", encoding=_encoding(ds))
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"run {manifest['run_id']}: results cannot be written as NetCDF ({exc})"
        ) from None
    text = json.dumps(manifest, indent=2, default=_json_default, allow_nan=False)
    (folder / MANIFEST_FILE).write_text(text, encoding="utf-8")
    for path in (nc, folder / MANIFEST_FILE, folder):
        _fsync(path)


def _encoding(ds: xr.Dataset) -> dict[str, dict]:
    """zlib for float variables; datetimes as integer '<unit> since <day> UTC'."""
    encoding = {}
    for name, var in ds.variables.items():
        if np.issubdtype(var.dtype, np.datetime64):
            encoding[name] = _time_encoding(var.values)
        elif np.issubdtype(var.dtype, np.floating) and var.ndim > 0:
            encoding[name] = {"zlib": True, "complevel": ZLIB_LEVEL}
    return encoding


def _time_encoding(values: np.ndarray) -> dict:
    """The coarsest unit (hours first) in which every time is a whole number since its first day."""
    times = pd.DatetimeIndex(values.ravel())
    valid = times[~times.isna()]
    ref = valid.min().floor("D") if len(valid) else pd.Timestamp("1970-01-01")
    offsets = (valid - ref).asi8  # ns
    unit = next(u for u in _TIME_UNITS if (offsets % pd.Timedelta(1, unit=u).value == 0).all())
    return {
        "units": f"{unit} since {ref:%Y-%m-%d %H:%M:%S}+00:00",
        "calendar": "proleptic_gregorian",
        "dtype": "int64",
    }


_CSV = {"index": False, "date_format": "%Y-%m-%dT%H:%M:%SZ"}


def _variable_frame(var: xr.DataArray) -> pd.DataFrame:
    """Long format: one column per dimension, then the values under the variable's name."""
    var = var.reset_coords(drop=True)
    if var.ndim == 0:
        return pd.DataFrame({var.name: [var.item()]})
    return var.to_dataframe(name=var.name).reset_index()


def _kpis_frame(attrs: Mapping) -> pd.DataFrame:
    return pd.DataFrame(list(_kpis(attrs).items()), columns=["kpi", "value"])


def _write_atomic(out: Path, write) -> None:
    """Call ``write(tmp_path)``, fsync, then rename the file onto ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{TMP_PREFIX}{out.name}-{os.getpid()}")
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(out.parent)


def _move_aside(path: Path, tag: str) -> Path:
    """Rename a run folder to a ``.tmp-*`` name (invisible to readers, swept by repair)."""
    aside = path.with_name(f"{TMP_PREFIX}{path.name}-{os.getpid()}-{tag}")
    os.replace(path, aside)
    _fsync(path.parent)
    return aside


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (renames, new files), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_touched(folder: Path) -> float:
    """Latest mtime of a folder and its direct entries (a save in progress keeps touching it)."""
    times = [folder.stat().st_mtime]
    with contextlib.suppress(OSError):
        times += [f.stat().st_mtime for f in folder.iterdir()]
    return max(times)
