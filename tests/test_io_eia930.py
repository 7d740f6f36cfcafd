"""EIA-930 loader: real 2022 files of four balancing authorities, plus hand-made edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridopt.errors import DataError
from gridopt.io.eia930 import FUELS, IPCC_AR5_LIFECYCLE_G_PER_KWH, open_eia930
from gridopt.io.series import QC

BAS = ("CISO", "ERCO", "NYIS", "PJM")


def _path(shared_data, ba):
    return shared_data / "carbon_intensity" / f"eia930_{ba}_2022_hourly_gen_by_fuel_and_avgCI.csv"


@pytest.fixture(scope="module")
def datasets(shared_data):
    return {ba: open_eia930(_path(shared_data, ba)) for ba in BAS}


def _recomputed_g_per_kwh(ds, factors):
    """sum(gen × factor) / sum(gen) over all eight fuels, as the file's avg_CI is built."""
    weights = np.array([factors[f] for f in ds["fuel"].values], dtype=float)
    gen = ds["generation_mw"].values
    return (gen * weights).sum(axis=1) / gen.sum(axis=1)


@pytest.mark.parametrize("ba", BAS)
def test_avg_ci_is_recomputed_from_generation_with_the_ar5_factors(datasets, ba):
    ds = datasets[ba]
    recomputed = _recomputed_g_per_kwh(ds, IPCC_AR5_LIFECYCLE_G_PER_KWH)
    from_file = ds["grid_co2_average_t_per_mwh"].values * 1000  # t/MWh -> g/kWh
    assert np.array_equal(np.isnan(recomputed), np.isnan(from_file))
    ok = ~np.isnan(from_file)
    assert np.abs(recomputed[ok] - from_file[ok]).max() < 1e-9


def test_solar_factor_is_41_not_45(datasets):
    """With solar at 45 g/kWh the recomputed CISO intensity misses the file's by > 1 g/kWh."""
    ds = datasets["CISO"]
    wrong = _recomputed_g_per_kwh(ds, {**IPCC_AR5_LIFECYCLE_G_PER_KWH, "SUN": 45})
    error = np.abs(wrong - ds["grid_co2_average_t_per_mwh"].values * 1000)
    assert np.nanmax(error) > 1.0
    assert IPCC_AR5_LIFECYCLE_G_PER_KWH["SUN"] == 41


def test_spot_row_matches_the_raw_file(datasets):
    # CISO line 2: 2022-01-01 00:00:00+00:00,3130.0,1367.0,2304.0,44.0,6764.0,19.0,2265.0,
    #              189.0,222.29592090536002
    row = datasets["CISO"].sel(time=pd.Timestamp("2022-01-01 00:00"))
    expected = dict(zip(FUELS, [3130, 1367, 2304, 44, 6764, 19, 2265, 189]))
    for fuel, mw in expected.items():
        assert row["generation_mw"].sel(fuel=fuel).item() == mw
    assert row["grid_co2_average_t_per_mwh"].item() == pytest.approx(0.22229592090536002, rel=1e-12)


def test_layout_units_and_attrs(datasets):
    ds = datasets["PJM"]
    assert ds["generation_mw"].dims == ("time", "fuel")
    assert list(ds["fuel"].values) == ["WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH"]
    assert ds.sizes["time"] == 8760
    assert ds.indexes["time"].tz is None
    assert ds.indexes["time"][[0, -1]].tolist() == [
        pd.Timestamp("2022-01-01 00:00"),
        pd.Timestamp("2022-12-31 23:00"),
    ]
    assert ds["generation_mw"].attrs["units"] == "MW"
    assert ds["generation_mw"].attrs["cell_methods"] == "time: mean"
    assert ds["grid_co2_average_t_per_mwh"].attrs["units"] == "t MWh-1"
    assert ds.attrs["balancing_authority"] == "PJM"
    assert ds.attrs["source"] == "eia930_PJM_2022_hourly_gen_by_fuel_and_avgCI.csv"


def test_empty_rows_are_missing(datasets):
    ds = datasets["CISO"]  # line 108 is "2022-01-05 10:00:00+00:00,,,,,,,,,"
    hour = ds.sel(time=pd.Timestamp("2022-01-05 10:00"))
    assert hour["generation_mw"].isnull().all()
    assert (hour["generation_mw_qc"].values == QC.MISSING).all()
    assert hour["grid_co2_average_t_per_mwh_qc"].item() == QC.MISSING
    assert int((ds["grid_co2_average_t_per_mwh_qc"] & QC.MISSING).astype(bool).sum()) == 3


def test_pjm_reporting_dropouts_are_flagged_and_kept(datasets):
    ds = datasets["PJM"]
    spike_hours = ds.indexes["time"][((ds["generation_mw_qc"].values & QC.SPIKE) > 0).any(axis=1)]
    assert spike_hours.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2022-10-01 05:00",
        "2022-10-01 06:00",
        "2022-10-01 07:00",
        "2022-10-01 08:00",
        "2022-10-02 04:00",
    ]
    # values as in the file (2022-10-01 05:00: WND 248, NUC 0), not replaced
    hour = ds.sel(time=pd.Timestamp("2022-10-01 05:00"))
    assert hour["generation_mw"].sel(fuel="WND").item() == 248
    assert hour["generation_mw"].sel(fuel="NUC").item() == 0
    assert hour["grid_co2_average_t_per_mwh_qc"].item() & QC.SPIKE
    for ba in ("CISO", "ERCO", "NYIS"):
        assert not (datasets[ba]["generation_mw_qc"].values & QC.SPIKE).any()


def test_negative_generation_is_kept_unless_implausible(tmp_path):
    """Hand-made hours of ~10 GW: pumped-storage WAT -500 and night SUN -30 are real and kept;
    NUC -900 is below -2 % of the hour's total (-0.02 x 9100 = -182) and becomes NaN."""
    path = tmp_path / "eia930_TEST_2022_hourly_gen_by_fuel_and_avgCI.csv"
    path.write_text(
        "timestamp,WND,SUN,WAT,OIL,NG,COL,NUC,OTH,avg_CI\n"
        "2022-01-01 00:00:00+00:00,1000,0,500,0,6000,0,2000,500,1\n"
        "2022-01-01 01:00:00+00:00,1000,-30,-500,0,6000,0,2000,500,1\n"
        "2022-01-01 02:00:00+00:00,1000,0,500,0,8000,0,-900,500,1\n"
        "2022-01-01 03:00:00+00:00,1000,0,500,0,6000,0,2000,500,1\n"
    )
    ds = open_eia930(path)
    gen, qc = ds["generation_mw"], ds["generation_mw_qc"]
    assert gen.sel(time="2022-01-01 01:00", fuel="WAT").item() == -500
    assert gen.sel(time="2022-01-01 01:00", fuel="SUN").item() == -30
    assert not qc.sel(time="2022-01-01 01:00").values.any()
    assert np.isnan(gen.sel(time="2022-01-01 02:00", fuel="NUC").item())
    assert qc.sel(time="2022-01-01 02:00", fuel="NUC").item() == QC.OUT_OF_RANGE
    assert ds["grid_co2_average_t_per_mwh_qc"].sel(time="2022-01-01 02:00").item() == QC.SPIKE
    assert ds.attrs["balancing_authority"] == "TEST"


def test_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match="eia930_XX.csv: file not found"):
        open_eia930(tmp_path / "eia930_XX.csv")
