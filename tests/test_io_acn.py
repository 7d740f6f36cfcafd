"""ACN-Data loader on the real Caltech sessions (Dec 2020 – Sep 2021)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.acn import open_acn_sessions, sessions_in_window
from gridopt.io.series import QC

FILE = "acndata_sessions_caltech_2020-12_2021-09.json.gz"
SPOT = "2_39_139_28_2020-12-05 22:02:57.683411"  # three userInputs; the last one counts
SUMMER = "2_39_125_21_2021-07-01 00:53:26.379748"
DC_FAST = "2_39_81_4550_2020-12-01 22:40:52.813654"


@pytest.fixture(scope="module")
def path(shared_data):
    return shared_data / "ev" / FILE


@pytest.fixture(scope="module")
def ds(path):
    return open_acn_sessions(path)


@pytest.fixture(scope="module")
def raw(path):
    with gzip.open(path, "rt") as fh:
        return json.load(fh)["_items"]


def test_all_sessions_are_read_once(ds, raw):
    assert ds.sizes["session"] == len(raw) == 3235
    assert ds.indexes["session"].is_unique
    assert ds.attrs["site"] == "caltech"
    assert ds.attrs["source_timezone"] == "America/Los_Angeles"


def test_spot_session_matches_the_raw_json(ds):
    # raw: connectionTime "Sat, 05 Dec 2020 22:02:58 GMT", disconnectTime 22:20:46,
    # doneChargingTime 22:20:41, kWhDelivered 1.951; userInputs kWhRequested 67.92, 28.3, 28.3,
    # requestedDeparture ... last "Sun, 06 Dec 2020 01:25:58 GMT"; stationID 2-39-139-28, CA-303
    s = ds.sel(session=SPOT)
    assert s["ev_arrival_time"].values == np.datetime64("2020-12-05T22:02:58")
    assert s["ev_departure_time"].values == np.datetime64("2020-12-05T22:20:46")
    assert s["ev_done_charging_time"].values == np.datetime64("2020-12-05T22:20:41")
    assert s["ev_energy_delivered_mwh"].item() == pytest.approx(0.001951)
    assert s["ev_energy_requested_mwh"].item() == pytest.approx(0.0283)
    assert s["ev_requested_departure_time"].values == np.datetime64("2020-12-06T01:25:58")
    assert s["ev_p_max_mw"].item() == pytest.approx(0.0066)
    assert s["ev_station"].item() == "2-39-139-28"
    assert s["ev_space"].item() == "CA-303"
    # plugged 17 min 48 s: 6.6 kW x 0.2967 h = 1.96 kWh < 28.3 kWh requested -> infeasible
    assert s["ev_qc"].item() == QC.OUT_OF_RANGE


def test_times_are_utc_not_shifted_to_local(ds):
    # "Thu, 01 Jul 2021 00:53:38 GMT" is 30 June 17:53:38 in Pasadena (PDT, UTC-7)
    arrival = pd.Timestamp(ds.sel(session=SUMMER)["ev_arrival_time"].values)
    assert arrival == pd.Timestamp("2021-07-01 00:53:38")
    local = arrival.tz_localize("UTC").tz_convert(ds.attrs["source_timezone"])
    assert local.strftime("%Y-%m-%d %H:%M:%S %z") == "2021-06-30 17:53:38 -0700"
    assert np.isnat(ds.sel(session=SUMMER)["ev_done_charging_time"].values)  # null in the raw


def test_every_session_agrees_with_the_raw_fields(ds, raw):
    by_id = ds.sel(session=[item["sessionID"] for item in raw])
    delivered = np.array([item["kWhDelivered"] for item in raw]) / 1000
    np.testing.assert_allclose(by_id["ev_energy_delivered_mwh"].values, delivered)
    departure = pd.to_datetime(
        [item["disconnectTime"] for item in raw], format="%a, %d %b %Y %H:%M:%S GMT"
    )
    assert (by_id["ev_departure_time"].values == departure.values).all()


def test_qc_flags_match_an_independent_count(ds, raw):
    no_input = sum(1 for item in raw if not item["userInputs"])
    assert no_input == 256
    assert int(((ds["ev_qc"] & QC.MISSING) > 0).sum()) == no_input
    assert ds["ev_energy_requested_mwh"].isnull().sum() == no_input

    infeasible = 0
    for item in raw:
        t0, t1 = (
            pd.Timestamp(item[k].removesuffix(" GMT")) for k in ("connectionTime", "disconnectTime")
        )
        hours = (t1 - t0).total_seconds() / 3600
        p_kw = 50.0 if item["stationID"] == "2-39-81-4550" else 6.6
        requested = item["userInputs"][-1]["kWhRequested"] if item["userInputs"] else 0.0
        infeasible += hours <= 0 or requested > p_kw * hours
    assert int(((ds["ev_qc"] & QC.OUT_OF_RANGE) > 0).sum()) == infeasible == 1414


def test_dc_fast_charger_rating_and_default_override(ds, path):
    # 8.22 kWh requested in 31 min 51 s: feasible at 50 kW (26.5 kWh), not at 6.6 kW (3.5 kWh)
    assert ds.sel(session=DC_FAST)["ev_p_max_mw"].item() == pytest.approx(0.05)
    assert ds.sel(session=DC_FAST)["ev_qc"].item() == 0
    plain = open_acn_sessions(path, default_p_max_kw=11.0, station_p_max_kw={})
    assert plain.sel(session=DC_FAST)["ev_p_max_mw"].item() == pytest.approx(0.011)
    assert plain.sel(session=DC_FAST)["ev_qc"].item() == QC.OUT_OF_RANGE
    assert plain.sel(session=SPOT)["ev_p_max_mw"].item() == pytest.approx(0.011)


def test_sessions_in_window_keeps_overlapping_sessions(ds):
    inside = sessions_in_window(ds, "2020-12-05 22:10", "2020-12-05 22:15")
    assert SPOT in inside.indexes["session"]
    before = sessions_in_window(ds, "2020-12-05 21:00", "2020-12-05 22:02:58")
    assert SPOT not in before.indexes["session"]  # arrives exactly at the (open) end
    aware = sessions_in_window(ds, "2020-12-05 14:10-08:00", "2020-12-05 14:15-08:00")
    assert list(aware.indexes["session"]) == list(inside.indexes["session"])
    arr, dep = ds["ev_arrival_time"].values, ds["ev_departure_time"].values
    lo, hi = np.datetime64("2021-03-15T00:00"), np.datetime64("2021-03-16T00:00")
    day = sessions_in_window(ds, "2021-03-15", "2021-03-16")
    assert day.sizes["session"] == int(((arr < hi) & (dep > lo)).sum()) > 0
    with pytest.raises(DataError, match="'start' must be before 'end'"):
        sessions_in_window(ds, "2021-03-16", "2021-03-15")


def test_roundtrip_through_netcdf(ds, tmp_path):
    ds.to_netcdf(tmp_path / "sessions.nc")
    back = xr.open_dataset(tmp_path / "sessions.nc").load()
    assert (back["ev_arrival_time"].values == ds["ev_arrival_time"].values).all()
    assert back["ev_qc"].attrs["flag_meanings"].startswith("missing gap")


def test_bad_input_raises_one_line_data_error(tmp_path):
    item = {
        "sessionID": "s1",
        "connectionTime": "2020-12-01 13:59",
        "disconnectTime": "Tue, 01 Dec 2020 19:33:50 GMT",
        "kWhDelivered": 1.0,
        "stationID": "x",
        "userInputs": None,
    }
    bad_time = tmp_path / "bad_time.json"
    bad_time.write_text(json.dumps({"_meta": {}, "_items": [item]}))
    expected = r"bad_time.json: session 's1' field 'connectionTime' must be an RFC 1123"
    with pytest.raises(DataError, match=expected):
        open_acn_sessions(bad_time)
    no_station = tmp_path / "no_station.json"
    no_station.write_text(json.dumps({"_items": [{**item, "stationID": None}]}))
    with pytest.raises(DataError, match=r"no_station.json: item 0 must have field 'stationID'"):
        open_acn_sessions(no_station)
    not_json = tmp_path / "not.json"
    not_json.write_text("{oops")
    with pytest.raises(DataError, match="not.json: cannot be read as ACN-Data JSON"):
        open_acn_sessions(not_json)
