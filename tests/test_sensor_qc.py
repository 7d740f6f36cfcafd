"""Sensor QC report and the calibration of AirQualityUCI's low-cost sensors on its analysers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gridopt.environment import CALIBRATION_TARGETS, calibrate_sensors, qc_report
from gridopt.errors import DataError
from gridopt.io.airquality import BEIJING, open_airquality_uci, open_beijing_multisite


@pytest.fixture(scope="module")
def beijing_dir(shared_data):
    return shared_data / "air_quality" / "beijing_multisite"


@pytest.fixture(scope="module")
def uci_file(shared_data):
    return shared_data / "air_quality" / "AirQualityUCI.csv"


@pytest.fixture(scope="module")
def uci(uci_file):
    return open_airquality_uci(uci_file)


def test_qc_report_counts_the_raw_empty_cells(beijing_dir):
    ds = open_beijing_multisite(beijing_dir, stations=["Dingling", "Wanshouxigong"])
    rows = qc_report(ds)
    # one row per station and series, stations in dataset order
    assert len(rows) == 2 * len(BEIJING)
    assert [r["station"] for r in rows[:: len(BEIJING)]] == ["Dingling", "Wanshouxigong"]
    assert [r["variable"] for r in rows[: len(BEIJING)]] == [q.name for q in BEIJING]
    raw = pd.read_csv(beijing_dir / "PRSA_Data_Dingling_20130301-20170228.csv.gz")
    by_key = {(r["station"], r["variable"]): r for r in rows}
    for q in BEIJING:
        row = by_key[("Dingling", q.name)]
        empty = int(raw[q.column].isna().sum())
        assert row["steps"] == len(raw) == 35064
        assert row["missing"] == empty, q.column
        assert row["gap"] == 0
        # valid: the filled cells less those set to NaN (out of range / sentinel, e.g. "cv" wind)
        assert row["valid"] == len(raw) - empty - row["out_of_range"] - row["sentinel"]
        assert row["coverage_percent"] == pytest.approx(100 * row["valid"] / 35064)
    # Dingling NO2: 1234 empty cells in the file (the loader's QC counts them as MISSING)
    assert by_key[("Dingling", "aq_no2_ug_m3")]["missing"] == 1234
    # Wanshouxigong O3 holds 78 for 24 hours from local 2013-03-05 17:00 (lines 114-137)
    assert by_key[("Wanshouxigong", "aq_o3_ug_m3")]["stuck"] >= 24


def test_qc_report_single_site(uci, uci_file):
    rows = qc_report(uci)
    assert {r["station"] for r in rows} == {""}
    raw = pd.read_csv(uci_file)
    benzene = next(r for r in rows if r["variable"] == "ref_benzene_ug_m3")
    assert benzene["sentinel"] == (raw["C6H6_GT"] == -200).sum() == 366
    assert benzene["valid"] == 9357 - benzene["sentinel"]


# Measured on AirQualityUCI.csv (9357 hours); the split is the first 70 % of the hours.
MEASURED = {  # target: (n_train, n_test, r2_train, r2_test, rmse_test)
    "ref_co_mg_m3": (4951, 2393, 0.9117, 0.8179, 0.6024),
    "ref_nox_ppb": (4987, 2409, 0.8203, 0.8251, 88.286),
    "ref_no2_ug_m3": (4984, 2409, 0.7500, 0.4666, 35.991),
    "ref_benzene_ug_m3": (6401, 2590, 0.9778, 0.9191, 1.8905),
}


def test_calibration_on_the_test_split(uci):
    rows = calibrate_sensors(uci)
    assert [r["target"] for r in rows] == list(CALIBRATION_TARGETS)
    for row in rows:
        n_train, n_test, r2_train, r2_test, rmse = MEASURED[row["target"]]
        assert row["split_utc"] == "2004-12-08 14:00:00"  # hour 6549 of 9357
        assert (row["n_train"], row["n_test"]) == (n_train, n_test)
        assert all(math.isfinite(row[k]) for k in ("r2_train", "r2_test", "rmse_test"))
        assert row["r2_train"] == pytest.approx(r2_train, abs=1e-3), row["target"]
        assert row["r2_test"] == pytest.approx(r2_test, abs=1e-3), row["target"]
        assert row["rmse_test"] == pytest.approx(rmse, rel=1e-3), row["target"]
    # benzene is strongly predictable from the titania sensor (De Vito et al. 2008)
    benzene = rows[-1]
    assert benzene["r2_test"] > 0.9 and benzene["units"] == "ug m-3"
    # NO2 generalises worst: the metal-oxide NO2 response drifts over the year
    assert min(rows, key=lambda r: r["r2_test"])["target"] == "ref_no2_ug_m3"


def test_calibration_reads_the_file_and_checks_its_input(uci_file, uci):
    from_file = calibrate_sensors(uci_file)
    assert from_file == calibrate_sensors(uci)
    with pytest.raises(DataError, match="variable 'sensor_pt08_s2_nmhc' is required"):
        calibrate_sensors(uci.drop_vars("sensor_pt08_s2_nmhc"))
    with pytest.raises(DataError, match=r"train_fraction must be in \(0, 1\)"):
        calibrate_sensors(uci, train_fraction=1.0)


def test_calibration_train_fit_is_ordinary_least_squares(uci):
    # The benzene training fit, redone with numpy: the same R².
    from gridopt.environment import CALIBRATION_FEATURES

    x = np.column_stack([uci[n].values for n in CALIBRATION_FEATURES])
    y = uci["ref_benzene_ug_m3"].values
    train = (np.arange(len(y)) < int(0.7 * len(y))) & np.isfinite(y) & np.isfinite(x).all(axis=1)
    design = np.column_stack([np.ones(train.sum()), x[train]])
    coef, *_ = np.linalg.lstsq(design, y[train], rcond=None)
    resid = y[train] - design @ coef
    r2 = 1 - resid @ resid / np.sum((y[train] - y[train].mean()) ** 2)
    assert calibrate_sensors(uci)[-1]["r2_train"] == pytest.approx(r2, abs=1e-9)
