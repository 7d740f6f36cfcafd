"""gridopt.io.simbench on the SimBench grids shipped with the simbench package (offline)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from gridopt.errors import DataError
from gridopt.io.series import QC, qc_name
from gridopt.io.simbench import open_simbench_profiles, simbench_generation_by_fuel
from gridopt.network import load_network


@pytest.fixture(scope="module")
def net():
    return load_network("simbench:1-MV-urban--0-sw")


@pytest.fixture(scope="module")
def profiles(net):
    return open_simbench_profiles(net)


def _raw_row(net, table: str, local_time: str, occurrence: int = 0) -> pd.Series:
    """The raw relative-profile row stamped ``local_time`` (the n-th one, for the repeated hour)."""
    frame = net.profiles[table]
    return frame[frame["time"] == local_time].iloc[occurrence]


def test_time_axis_is_the_2016_local_year_in_utc(profiles):
    time = profiles.indexes["time"]
    # 366 days x 96 quarter-hours; local 01.01.2016 00:00 CET = 2015-12-31 23:00 UTC
    assert len(time) == 35136
    assert time[0] == pd.Timestamp("2015-12-31 23:00")
    assert time[-1] == pd.Timestamp("2016-12-31 22:45")
    assert (time.to_series().diff().iloc[1:] == pd.Timedelta("15min")).all()
    assert profiles["time"].attrs["timezone"] == "UTC"
    assert profiles.attrs["source_timezone"] == "Europe/Berlin"


def test_load_spot_value_from_the_raw_row(net, profiles):
    # load 0 at local 01.01.2016 00:00 (CET, UTC+1) = rated p_mw x its '_pload' profile
    load = net.load.loc[0]
    raw = _raw_row(net, "load", "01.01.2016 00:00")
    expected_p = load.p_mw * raw[load.profile + "_pload"]
    expected_q = load.q_mvar * raw[load.profile + "_qload"]
    at = {"time": pd.Timestamp("2015-12-31 23:00"), "load": 0}
    assert profiles["load_p_mw"].sel(at).item() == pytest.approx(expected_p)
    assert profiles["load_q_mvar"].sel(at).item() == pytest.approx(expected_q)


def test_summer_time_is_utc_plus_two(net, profiles):
    # local 01.07.2016 12:00 is CEST, so 10:00 UTC
    sgen = net.sgen.index[net.sgen.type == "lv_RES"][0]
    row = net.sgen.loc[sgen]
    raw = _raw_row(net, "renewables", "01.07.2016 12:00")
    value = profiles["sgen_p_max_mw"].sel(time=pd.Timestamp("2016-07-01 10:00"), sgen=sgen).item()
    assert value == pytest.approx(row.p_mw * raw[row.profile])
    assert value > 0  # a July noon of a PV-dominated profile


def test_repeated_autumn_hour_maps_to_two_utc_hours(net, profiles):
    # 30.10.2016 02:00 local appears twice: first CEST (00:00 UTC), then CET (01:00 UTC)
    load = net.load.loc[5]
    column = load.profile + "_pload"
    first = _raw_row(net, "load", "30.10.2016 02:00", 0)[column] * load.p_mw
    second = _raw_row(net, "load", "30.10.2016 02:00", 1)[column] * load.p_mw
    assert first != second
    series = profiles["load_p_mw"].sel(load=5)
    assert series.sel(time=pd.Timestamp("2016-10-30 00:00")).item() == pytest.approx(first)
    assert series.sel(time=pd.Timestamp("2016-10-30 01:00")).item() == pytest.approx(second)


def test_spring_gap_closes_in_utc(net, profiles):
    # 27.03.2016 01:45 CET (00:45 UTC) is followed by 03:00 CEST (01:00 UTC): no gap in UTC
    load = net.load.loc[5]
    column = load.profile + "_pload"
    after = _raw_row(net, "load", "27.03.2016 03:00")[column] * load.p_mw
    assert profiles["load_p_mw"].sel(load=5, time=pd.Timestamp("2016-03-27 01:00")).item() == pytest.approx(after)


def test_availability_stays_within_the_rating(net, profiles):
    p_max = profiles["sgen_p_max_mw"]
    rated = net.sgen.p_mw.to_numpy()
    assert (p_max.values >= 0).all()
    assert (p_max.values <= rated[None, :] + 1e-9).all()


def test_coordinates_attrs_and_flags(net, profiles):
    assert profiles["load"].values.tolist() == net.load.index.tolist()
    assert profiles["sgen"].values.tolist() == net.sgen.index.tolist()
    assert "storage_p_mw" not in profiles  # 1-MV-urban--0-sw has no storage
    attrs = profiles["sgen_p_max_mw"].attrs
    assert (attrs["units"], attrs["cell_methods"]) == ("MW", "time: mean")
    assert profiles["load_q_mvar"].attrs["units"] == "MVAr"
    assert not (profiles[qc_name("load_p_mw")].values & QC.MISSING).any()


def test_period_selection_is_utc_and_inclusive(net):
    day = open_simbench_profiles(net, start="2016-06-01 00:00", end="2016-06-01 23:45")
    assert day.sizes["time"] == 96


def test_period_outside_2016_is_a_data_error(net):
    with pytest.raises(DataError, match=r"cover 2015-12-31 23:00:00 to 2016-12-31 22:45:00 UTC"):
        open_simbench_profiles(net, start="2018-01-01", end="2018-01-02")


def test_storage_schedule():
    net = load_network("simbench:1-LV-rural1--2-sw")  # scenario 2 adds 5 PV home storages
    ds = open_simbench_profiles(net, start="2016-07-01 10:00", end="2016-07-01 10:00")
    storage = net.storage.loc[0]
    raw = _raw_row(net, "storage", "01.07.2016 12:00")
    assert ds["storage"].values.tolist() == net.storage.index.tolist()
    assert ds["storage_p_mw"].sel(storage=0).item() == pytest.approx(storage.p_mw * raw[storage.profile])


def test_net_without_profiles_is_a_data_error():
    with pytest.raises(DataError, match=r"network 'pandapower:case33bw': net.profiles\['load'\] is missing"):
        open_simbench_profiles(load_network("pandapower:case33bw"))


def test_missing_profile_names_the_element(net):
    broken = copy.deepcopy(net)
    broken.sgen.loc[3, "profile"] = "no_such_profile"
    with pytest.raises(DataError, match=r"sgen 3 profile 'no_such_profile' is missing from net.profiles"):
        open_simbench_profiles(broken)


def test_generation_by_fuel_of_the_ehv_grid():
    net = load_network("simbench:1-EHV-mixed--0-sw")
    gen = simbench_generation_by_fuel(net)
    assert gen.dims == ("time", "fuel")
    assert {"lignite", "hard coal", "gas", "imp0", "wind offshore", "nuclear"} <= set(gen.fuel.values)
    # the 7 nuclear units are slack ext_grids whose profiles pp_111..pp_117 are a flat 0.7:
    # 0.7 x (1410 + 1360 + 1410 + 1288 + 1336 + 1310 + 1402) MW = 6661.2 MW in every step
    assert np.allclose(gen.sel(fuel="nuclear").values, 6661.2)
    # lignite at local 01.01.2016 00:00 = sum of rated p_mw x that row of each unit's profile
    raw = _raw_row(net, "powerplants", "01.01.2016 00:00")
    lignite = net.gen[net.gen.type == "lignite"]
    expected = float((lignite.p_mw * raw[lignite.profile].to_numpy()).sum())
    assert gen.sel(fuel="lignite", time=pd.Timestamp("2015-12-31 23:00")).item() == pytest.approx(expected)
    assert gen.attrs["units"] == "MW"
