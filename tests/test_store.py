"""The run store: round trips, catalog, crash safety (real SIGKILL), concurrency, CSV export."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.series import Rule, series_attrs, to_utc
from gridopt.store import RunRecord, Store, hash_file, versions

REPO = Path(__file__).resolve().parents[1]
# sha256("abc"), the FIPS 180-2 example
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
FUELS = ["WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH"]
CISO = "carbon_intensity/eia930_CISO_2022_hourly_gen_by_fuel_and_avgCI.csv"


def small_results(freq: str = "h", objective: float = 1234.5) -> xr.Dataset:
    """A hand-made dispatch result: 4 steps, every dimension of the results contract."""
    time_ = pd.date_range("2026-06-01", periods=4, freq=freq)
    gen_p = np.array([[10.0, 0.0], [12.5, 1.25], [15.0, 2.5], [9.75, 0.0]])
    ds = xr.Dataset(
        coords={
            "time": time_,
            "gen": [0, 1],
            "sgen": [0, 1, 2],
            "storage": [0],
            "session": ["acn:5e8d", "acn:5e90"],
            "bus": [0, 1, 2],
            "branch": ["line:17", "trafo:0"],
            "pollutant": ["co2", "nox", "so2", "pm25"],
            "source": ["ext_grid", "gen"],
        },
        attrs={
            "title": "gridopt dispatch results",
            "source": "models/feeder.toml",
            "status": "optimal",
            "objective": objective,
            "solver": "highs 1.15.0",
            "time_build_s": 0.12,
            "time_solve_s": 0.05,
            "explanation": "line:17 at its thermal limit 2026-06-01T02:00Z\nno load shed",
            "kpi_co2_avoided_marginal_t": 1.75,
            "kpi_cost_eur": objective,
            "kpi_renewable_share": 0.42,
        },
    )
    ds["gen_p_mw"] = (("time", "gen"), gen_p,
                      series_attrs("MW", "generator active power", Rule.MEAN))
    ds["sgen_p_mw"] = (("time", "sgen"), np.arange(12.0).reshape(4, 3) / 4,
                       series_attrs("MW", "static generator active power", Rule.MEAN))
    ds["storage_soc_mwh"] = (("time", "storage"), [[1.0], [1.5], [2.0], [1.0]],
                             series_attrs("MWh", "battery state of charge", Rule.POINT))
    ds["ev_p_mw"] = (("time", "session"), [[0.011, 0.0], [0.011, 0.007], [0.0, 0.007], [0.0, 0.0]],
                     series_attrs("MW", "EV charging power", Rule.MEAN))
    ds["branch_p_mw"] = (("time", "branch"), [[5.0, -3.0], [6.0, -4.5], [7.25, -5.0], [4.0, -2.0]],
                         series_attrs("MW", "active power flow, from side", Rule.MEAN))
    ds["bus_price_per_mwh"] = (("time", "bus"), np.full((4, 3), 42.0),
                               series_attrs("EUR/MWh", "nodal price (dual of balance)", Rule.MEAN))
    ds["emissions_t"] = (("time", "pollutant", "source"), np.arange(32.0).reshape(4, 4, 2) / 8,
                         series_attrs("t", "emissions", Rule.SUM))
    ds["ac_bus_vm_pu"] = (("time", "bus"), [[1.0, 0.99, 0.98], [1.0, 0.985, 0.97],
                                            [np.nan, np.nan, np.nan], [1.0, 0.99, 0.985]],
                          series_attrs("1", "AC voltage magnitude", Rule.MEAN))
    ds["ac_converged"] = ("time", [True, True, False, True],
                          {"long_name": "AC power flow converged"})
    ds["load_shed_total_mwh"] = ((), 0.5,
                                 {"units": "MWh", "long_name": "load shed over the horizon"})
    return ds


def ciso_results(shared_data: Path) -> xr.Dataset:
    """A year of CAISO (EIA-930, 2022) generation by fuel as if each fuel were one generator."""
    raw = pd.read_csv(shared_data / CISO)
    times = to_utc(pd.to_datetime(raw["timestamp"]), "UTC", where=CISO).rename("time")
    gen_p = raw[FUELS].to_numpy()
    co2_t = gen_p.sum(axis=1) * raw["avg_CI"].to_numpy() / 1000  # MWh * kg/MWh -> t
    ds = xr.Dataset(
        coords={"time": times, "gen": np.arange(len(FUELS)),
                "gen_fuel": ("gen", FUELS), "pollutant": ["co2"], "source": ["ext_grid"]},
        attrs={"status": "optimal", "objective": 0.0, "kpi_co2_t": float(np.nansum(co2_t))},
    )
    ds["gen_p_mw"] = (("time", "gen"), gen_p, series_attrs("MW", "generation", Rule.MEAN))
    ds["emissions_t"] = (("time", "pollutant", "source"), co2_t[:, None, None],
                         series_attrs("t", "CO2 emissions (lifecycle)", Rule.SUM))
    return ds


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def age(path: Path, hours: float) -> None:
    """Set the mtime of a folder and its entries ``hours`` into the past."""
    past = time.time() - hours * 3600
    for p in [*path.iterdir(), path]:
        os.utime(p, (past, past))


def catalog_rows(store: Store) -> dict[str, sqlite3.Row]:
    with sqlite3.connect(store.catalog_path) as db:
        db.row_factory = sqlite3.Row
        return {r["run_id"]: r for r in db.execute("SELECT * FROM runs")}


# ---- round trip and manifest ------------------------------------------------------------


def test_round_trip_keeps_values_attrs_string_coords_and_times(store: Store):
    ds = small_results()
    run_id = store.save(ds, model="feeder")
    back = store.open(run_id)
    xr.testing.assert_identical(back, ds)
    assert list(back["branch"].values) == ["line:17", "trafo:0"]
    assert back["ac_converged"].dtype == bool
    assert np.isnan(back["ac_bus_vm_pu"].sel(time="2026-06-01T02:00")).all()
    # on disk: integer hours since the first day (UTC), floats compressed, strings as strings
    raw = xr.open_dataset(store.get(run_id).path / "results.nc", decode_times=False)
    assert raw["time"].attrs["units"] == "hours since 2026-06-01T00:00:00+00:00"
    assert raw["time"].values.tolist() == [0, 1, 2, 3]
    assert raw["gen_p_mw"].encoding["zlib"] and raw["gen_p_mw"].encoding["complevel"] == 2
    raw.close()


def test_sub_hourly_times_are_stored_exactly(store: Store):
    ds = small_results(freq="15min")
    back = store.open(store.save(ds, model="feeder"))
    assert (back.indexes["time"] == pd.date_range("2026-06-01", periods=4, freq="15min")).all()
    raw = xr.open_dataset(store.get(store.list()[0].run_id).path / "results.nc", decode_times=False)
    assert raw["time"].attrs["units"].startswith("minutes since 2026-06-01")
    assert raw["time"].values.tolist() == [0, 15, 30, 45]
    raw.close()


def test_year_of_real_data_round_trips(store: Store, shared_data: Path):
    ds = ciso_results(shared_data)
    back = store.open(store.save(ds, model="ciso"))
    xr.testing.assert_identical(back, ds)
    # 2022-07-15 20:00 UTC row of the raw file: NG 11509 MW, SUN 13076 MW
    hour = back.sel(time="2022-07-15T20:00")
    assert hour["gen_p_mw"].sel(gen=FUELS.index("NG")).item() == 11509.0
    assert hour["gen_p_mw"].sel(gen=FUELS.index("SUN")).item() == 13076.0


def test_catalog_row_matches_manifest(store: Store, shared_data: Path, tmp_path: Path):
    model_file = tmp_path / "feeder.toml"
    model_file.write_bytes(b"abc")
    before = datetime.now(timezone.utc)
    run_id = store.save(
        small_results(), model="feeder", model_file=model_file,
        inputs={"series": shared_data / CISO, "network": "abc", "profile": b"abc"},
        options={"horizon_h": 24, "out": Path("x.nc"), "carbon_price_eur_per_t": np.float64(80.0)},
        run_id="r1",
    )
    manifest = store.manifest(run_id)
    row = catalog_rows(store)["r1"]
    assert row["model"] == manifest["model"] == "feeder"
    assert row["created"] == manifest["created"]
    assert before <= datetime.fromisoformat(manifest["created"]) <= datetime.now(timezone.utc)
    assert row["status"] == manifest["status"] == "optimal"
    assert row["objective"] == manifest["objective"] == 1234.5
    assert json.loads(row["kpis"]) == manifest["kpis"] == {
        "co2_avoided_marginal_t": 1.75, "cost_eur": 1234.5, "renewable_share": 0.42}
    assert json.loads(row["input_hashes"]) == manifest["input_hashes"]
    assert json.loads(row["versions"]) == manifest["versions"]
    assert row["path"] == "runs/r1"
    hashes = manifest["input_hashes"]
    assert hashes["network"] == hashes["profile"] == hashes["model_file"] == SHA256_ABC
    # an 800 kB file hashed in 1 MiB chunks agrees with hashing its bytes at once
    assert hashes["series"] == hashlib.sha256((shared_data / CISO).read_bytes()).hexdigest()
    assert manifest["model_file"] == str(model_file)
    assert manifest["options"] == {"horizon_h": 24, "out": "x.nc", "carbon_price_eur_per_t": 80.0}
    assert manifest["explanation"] == [
        "line:17 at its thermal limit 2026-06-01T02:00Z", "no load shed"]
    assert manifest["versions"]["xarray"] == xr.__version__
    assert manifest["versions"]["python"] == platform.python_version()


def test_hash_file_and_versions(tmp_path: Path):
    (tmp_path / "abc.txt").write_bytes(b"abc")
    assert hash_file(tmp_path / "abc.txt") == SHA256_ABC
    with pytest.raises(DataError, match="missing.csv"):
        hash_file(tmp_path / "missing.csv")
    found = versions()
    assert found["numpy"] == np.__version__ and found["xarray"] == xr.__version__
    assert set(found) >= {"gridopt", "pandapower", "pyomo", "highspy", "xarray", "numpy", "python"}


def test_nan_objective_and_unserializable_attrs(store: Store):
    infeasible = small_results()
    infeasible.attrs.update(status="infeasible", objective=float("nan"))
    store.save(infeasible, model="feeder", run_id="inf")
    assert store.get("inf").objective is None and store.manifest("inf")["objective"] is None
    bad = small_results()
    bad.attrs["converged"] = True  # NetCDF attributes cannot hold booleans
    with pytest.raises(DataError, match="run bad: results cannot be written as NetCDF"):
        store.save(bad, model="feeder", run_id="bad")
    assert [p.name for p in store.runs_dir.iterdir()] == ["inf"]
    with pytest.raises(DataError, match="options must be JSON-serializable"):
        store.save(small_results(), model="feeder", options={"net": object()})


# ---- listing, ids, overwrite, delete ----------------------------------------------------


def test_list_filters_newest_first_and_get(store: Store):
    assert store.list() == []
    store.save(small_results(), model="a", run_id="first")
    late = small_results()
    late.attrs["status"] = "infeasible"
    store.save(late, model="b", run_id="second")
    store.save(small_results(), model="a", run_id="third")
    assert [r.run_id for r in store.list()] == ["third", "second", "first"]
    assert [r.run_id for r in store.list(model="a")] == ["third", "first"]
    assert [r.run_id for r in store.list(status="infeasible")] == ["second"]
    assert [r.run_id for r in store.list(limit=2)] == ["third", "second"]
    record = store.get("first")
    assert isinstance(record, RunRecord)
    assert record.created.tzinfo is not None and record.created.utcoffset() == timedelta(0)
    assert record.kpis["renewable_share"] == 0.42 and record.path == store.runs_dir / "first"
    with pytest.raises(DataError, match=f"run 'nope' is not in the store {store.root}"):
        store.get("nope")
    with pytest.raises(DataError, match="limit must be a positive integer"):
        store.list(limit=0)


def test_default_run_id_and_root_from_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GRIDOPT_STORE", str(tmp_path / "env-store"))
    store = Store()
    assert store.root == tmp_path / "env-store"
    run_id = store.save(small_results(), model="feeder")
    stamp, suffix = run_id.split("-")
    assert datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") and len(suffix) == 6
    monkeypatch.delenv("GRIDOPT_STORE")
    monkeypatch.chdir(tmp_path)
    assert Store().root == tmp_path / "gridopt-runs"


@pytest.mark.parametrize("bad", ["../x", "..", ".", ".tmp-x", "a/b", "", "x" * 81, "a b", "abc\n"])
def test_invalid_run_ids_are_refused(store: Store, bad: str):
    with pytest.raises(DataError, match="run id must be 1-80 characters"):
        store.save(small_results(), model="feeder", run_id=bad)
    with pytest.raises(DataError, match="run id must be"):
        store.open(bad)
    assert not (store.root / "x").exists() and not (store.root.parent / "x").exists()


def test_existing_id_needs_overwrite(store: Store):
    store.save(small_results(), model="feeder", run_id="r1")
    with pytest.raises(DataError, match="run 'r1' already exists"):
        store.save(small_results(objective=99.0), model="feeder", run_id="r1")
    assert store.get("r1").objective == 1234.5
    store.save(small_results(objective=99.0), model="feeder", run_id="r1", overwrite=True)
    assert store.get("r1").objective == 99.0
    assert store.open("r1").attrs["objective"] == 99.0
    assert [p.name for p in store.runs_dir.iterdir()] == ["r1"]  # nothing left aside


def test_delete(store: Store):
    store.save(small_results(), model="feeder", run_id="r1")
    store.save(small_results(), model="feeder", run_id="r2")
    store.delete("r1")
    assert [r.run_id for r in store.list()] == ["r2"]
    assert sorted(p.name for p in store.runs_dir.iterdir()) == ["r2"]
    assert "r1" not in catalog_rows(store)
    with pytest.raises(DataError, match="run 'r1' is not in the store"):
        store.delete("r1")


def test_missing_or_corrupt_results_file_and_catalog(store: Store):
    store.save(small_results(), model="feeder", run_id="r1")
    results = store.get("r1").path / "results.nc"
    results.write_bytes(b"CDF\x01 truncated")
    unreadable = r"run r1: results file is missing or unreadable \(.*results.nc"
    with pytest.raises(DataError, match=unreadable):
        store.open("r1")
    results.unlink()
    with pytest.raises(DataError, match="run r1: results file is missing or unreadable"):
        store.open("r1")
    for name in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (store.root / name).unlink(missing_ok=True)
    store.catalog_path.write_bytes(b"not a database, just text" * 100)
    with pytest.raises(DataError, match="catalog.sqlite: catalog is unreadable"):
        store.list()


# ---- crash safety -----------------------------------------------------------------------


def test_crash_leftovers_are_invisible_and_repaired(store: Store):
    store.save(small_results(), model="feeder", run_id="good")
    # a save killed while writing: a temporary folder with a partial file
    partial = store.runs_dir / ".tmp-r2-999"
    partial.mkdir()
    (partial / "results.nc").write_bytes(b"\x89HDF\r\n")
    # a save killed between the rename and the catalog insert: a complete folder, no row
    store.save(small_results(), model="feeder", run_id="complete")
    with sqlite3.connect(store.catalog_path) as db:
        db.execute("DELETE FROM runs WHERE run_id = 'complete'")
    # a folder without row and without manifest (not written by the store): incomplete
    (store.runs_dir / "stray").mkdir()
    (store.runs_dir / "stray" / "results.nc").write_bytes(b"")
    # a row whose folder vanished
    store.save(small_results(), model="feeder", run_id="vanished")
    (store.runs_dir / "vanished" / "results.nc").unlink()
    (store.runs_dir / "vanished" / "manifest.json").unlink()
    (store.runs_dir / "vanished").rmdir()

    assert [r.run_id for r in store.list()] == ["good"]
    with pytest.raises(DataError, match="run 'complete' is not in the store"):
        store.open("complete")

    fresh = store.repair()  # young leftovers may be saves in progress: only the dead row goes
    assert (fresh.removed_tmp, fresh.dropped_rows, fresh.recovered, fresh.removed_orphans) == (
        [], ["vanished"], [], [])
    for folder in (partial, store.runs_dir / "complete", store.runs_dir / "stray"):
        age(folder, hours=2)
    report = store.repair()
    assert report.removed_tmp == [".tmp-r2-999"]
    assert report.recovered == ["complete"]
    assert report.removed_orphans == ["stray"]
    assert report.dropped_rows == []
    assert "re-registered 1 complete run folder(s) missing from the catalog (complete)" in str(
        report)
    assert sorted(p.name for p in store.runs_dir.iterdir()) == ["complete", "good"]
    assert {r.run_id for r in store.list()} == {"good", "complete"}
    xr.testing.assert_identical(store.open("complete"), small_results())


SAVE_LOOP = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd, xarray as xr
    from gridopt.store import Store

    store = Store(sys.argv[1])
    rng = np.random.default_rng(0)
    time = pd.date_range("2026-01-01", periods=8760, freq="h")
    branch = [f"line:{i}" for i in range(400)]
    ds = xr.Dataset(
        {"branch_p_mw": (("time", "branch"), rng.normal(0, 5, (8760, 400)), {"units": "MW"})},
        coords={"time": time, "branch": branch}, attrs={"status": "optimal", "objective": 1.0},
    )
    i = 0
    while True:
        store.save(ds, model="big", run_id=f"big-{i:03d}")
        i += 1
    """
)


def test_sigkill_mid_save_leaves_a_readable_store(store: Store):
    child = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(store.root)], cwd=REPO,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:  # kill while the second or a later run is being written
            writing = list(store.runs_dir.glob(".tmp-big-*/results.nc"))
            if writing and store.list():
                os.kill(child.pid, signal.SIGKILL)
                break
            assert child.poll() is None, child.stderr.read().decode()
            time.sleep(0.005)
        else:
            pytest.fail("the saving process never got to a second run")
    finally:
        child.kill()
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    leftovers = [p.name for p in store.runs_dir.glob(".tmp-*")]
    assert leftovers, "the kill was meant to land mid-write"
    runs = store.list()
    assert runs and all(r.run_id.startswith("big-") for r in runs)
    for record in runs:
        ds = store.open(record.run_id)
        assert ds["branch_p_mw"].shape == (8760, 400)
        assert ds["branch"].values[17] == "line:17"
    assert store.repair(older_than=timedelta(0)).removed_tmp == leftovers
    new = store.save(small_results(), model="after-crash")
    assert store.list()[0].run_id == new and len(store.list()) == len(runs) + 1


SAVE_TEN = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd, xarray as xr
    from gridopt.store import Store

    store, name = Store(sys.argv[1]), sys.argv[2]
    for i in range(10):
        ds = xr.Dataset(
            {"gen_p_mw": (("time", "gen"), np.full((24, 2), float(i)), {"units": "MW"})},
            coords={"time": pd.date_range("2026-06-01", periods=24, freq="h"), "gen": [0, 1]},
            attrs={"status": "optimal", "objective": float(i)},
        )
        store.save(ds, model=name)
    """
)


def test_two_processes_save_concurrently(store: Store):
    procs = [subprocess.Popen([sys.executable, "-c", SAVE_TEN, str(store.root), f"proc{k}"],
                              cwd=REPO, stderr=subprocess.PIPE) for k in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    runs = store.list()
    assert len(runs) == 20 and len({r.run_id for r in runs}) == 20
    for k in range(2):
        mine = store.list(model=f"proc{k}")
        assert sorted(r.objective for r in mine) == [float(i) for i in range(10)]
    for record in runs:
        assert store.open(record.run_id)["gen_p_mw"].values[0, 0] == record.objective
    assert not list(store.runs_dir.glob(".tmp-*"))
    with sqlite3.connect(store.catalog_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ---- CSV export -------------------------------------------------------------------------


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_one_variable_long_format(store: Store, shared_data: Path, tmp_path: Path):
    run_id = store.save(ciso_results(shared_data), model="ciso")
    out = store.export_csv(run_id, "gen_p_mw", tmp_path / "out" / "gen.csv")
    rows = read_csv_rows(out)
    assert list(rows[0]) == ["time", "gen", "gen_p_mw"]  # non-dimension coords (gen_fuel) left out
    assert len(rows) == 8760 * len(FUELS)
    ng_gen = str(FUELS.index("NG"))
    ng = [r for r in rows if r["time"] == "2022-07-15T20:00:00Z" and r["gen"] == ng_gen]
    assert float(ng[0]["gen_p_mw"]) == 11509.0
    out = store.export_csv(run_id, "emissions_t", tmp_path / "co2.csv")
    rows = read_csv_rows(out)
    assert list(rows[0]) == ["time", "pollutant", "source", "emissions_t"]
    hour = [r for r in rows if r["time"] == "2022-07-15T20:00:00Z"][0]
    # raw row: 761+13076+920+86+11509+9+2267+41 = 28669 MWh at 219.955... kg/MWh
    assert float(hour["emissions_t"]) == pytest.approx(28669 * 219.95503854337437 / 1000)
    assert (hour["pollutant"], hour["source"]) == ("co2", "ext_grid")
    with pytest.raises(DataError, match=r"variable must be one of \['emissions_t', 'gen_p_mw'\]"):
        store.export_csv(run_id, "gen_q_mvar", tmp_path / "q.csv")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv") == ["co2.csv"]


def test_export_all_variables_to_a_folder(store: Store, tmp_path: Path):
    ds = small_results()
    store.save(ds, model="feeder", run_id="r1")
    out = store.export_csv("r1", None, tmp_path / "r1-csv")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.csv" for name in ds.data_vars] + ["kpis.csv"])
    branch = read_csv_rows(out / "branch_p_mw.csv")
    assert branch[4] == {"time": "2026-06-01T02:00:00Z", "branch": "line:17", "branch_p_mw": "7.25"}
    assert len(read_csv_rows(out / "emissions_t.csv")) == 4 * 4 * 2
    assert read_csv_rows(out / "ac_converged.csv")[2]["ac_converged"] == "False"
    assert read_csv_rows(out / "load_shed_total_mwh.csv") == [{"load_shed_total_mwh": "0.5"}]
    kpis = {r["kpi"]: float(r["value"]) for r in read_csv_rows(out / "kpis.csv")}
    assert kpis == {"co2_avoided_marginal_t": 1.75, "cost_eur": 1234.5, "renewable_share": 0.42}
    with pytest.raises(DataError, match="export folder must be new or empty"):
        store.export_csv("r1", None, out)
    assert not list(tmp_path.glob(".tmp-*"))


# ---- import hygiene ---------------------------------------------------------------------


def test_store_imports_no_solver_or_grid_packages():
    code = ("import sys, gridopt.store; "
            "print([m for m in ('pandapower', 'pyomo', 'highspy', 'statsmodels') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
