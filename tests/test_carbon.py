"""Carbon intensity: average and marginal factors, the factor table, the SimBench 2016 signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.environment import (
    _simbench_carbon_year,
    average_intensity,
    marginal_intensity,
    read_fuel_emission_factors,
    simbench_carbon_signal,
)
from gridopt.errors import DataError


def _generation(columns: dict[str, list[float] | np.ndarray], start="2016-01-01", freq="1h") -> xr.DataArray:
    frame = pd.DataFrame(columns, index=pd.date_range(start, periods=len(next(iter(columns.values()))), freq=freq))
    return xr.DataArray(frame.to_numpy(dtype=float), dims=("time", "fuel"),
                        coords={"time": frame.index, "fuel": list(frame.columns)})


# --------------------------------------------------------------------------- average


def test_average_of_two_fuels_by_hand():
    gen = _generation({"coal": [100, 50, 0], "wind": [100, 150, 0]})
    result = average_intensity(gen, {"coal": 1.0, "wind": 0.0})
    # (100*1.0)/(200) = 0.5; (50*1.0)/(200) = 0.25; no generation -> NaN
    np.testing.assert_allclose(result.values, [0.5, 0.25, np.nan])
    assert result.attrs["units"] == "t MWh-1"
    assert result.attrs["cell_methods"] == "time: mean"


def test_average_reproduces_eia930_avg_ci(shared_data):
    # The EIA-930 files' avg_CI is generation weighted by IPCC AR5 lifecycle medians (g/kWh,
    # shared/data/README.md). NYIS, first hour of 2022: (218*11 + 3962*24 + 702*650 + 6220*490
    # + 3348*12 + 182*230) / 14632 = 3683622 / 14632 = 251.751 g/kWh.
    factors = {"COL": 0.82, "NG": 0.49, "OIL": 0.65, "OTH": 0.23, "SUN": 0.045, "WAT": 0.024,
               "NUC": 0.012, "WND": 0.011}
    raw = pd.read_csv(shared_data / "carbon_intensity" / "eia930_NYIS_2022_hourly_gen_by_fuel_and_avgCI.csv")
    gen = _generation({fuel: raw[fuel].to_numpy() for fuel in factors})
    result = average_intensity(gen, factors) * 1000
    assert result.isel(time=0).item() == pytest.approx(251.751, abs=1e-3)
    np.testing.assert_allclose(result.values, raw["avg_CI"].to_numpy(), rtol=1e-9)


def test_negative_generation_is_left_out_of_both_sums():
    # pumping (-50 MW) neither dilutes nor concentrates: 100 MW of gas at 0.4 -> 0.4, not 40/50
    gen = _generation({"gas": [100.0], "pumped storage": [-50.0]})
    assert average_intensity(gen, {"gas": 0.4, "pumped storage": 0.0}).item() == pytest.approx(0.4)


def test_missing_generation_gives_nan_not_a_partial_mean():
    gen = _generation({"coal": [100.0], "wind": [np.nan]})
    assert np.isnan(average_intensity(gen, {"coal": 1.0, "wind": 0.0}).item())


def test_fuel_without_factor_is_named():
    gen = _generation({"coal": [1.0], "peat": [1.0]})
    with pytest.raises(DataError, match=r"fuel 'peat' has no factor \(got factors for coal\)"):
        average_intensity(gen, {"coal": 1.0})
    with pytest.raises(DataError, match="fuel 'peat' has no factor"):
        average_intensity(gen, {"coal": 1.0, "peat": float("nan")})


def test_generation_needs_time_and_fuel():
    with pytest.raises(DataError, match=r"generation_mw must have dims \(time, fuel\)"):
        average_intensity(xr.DataArray([1.0], dims="time"), {})


# --------------------------------------------------------------------------- marginal


def _synthetic_year(seed: int = 0) -> xr.DataArray:
    """Hourly 2016: gas follows demand minus wind, lignite is flat, wind is random."""
    rng = np.random.default_rng(seed)
    n = 366 * 24
    demand = 1100 + 200 * np.sin(np.arange(n) * 2 * np.pi / 24) + rng.normal(0, 30, n)
    wind = rng.uniform(0, 300, n)
    return _generation({"lignite": np.full(n, 400.0), "gas": demand - 400 - wind, "wind": wind})


def test_marginal_recovers_the_marginal_fuel_factor():
    gen = _synthetic_year()
    # E = 1.2*400 + 0.4*gas, so every hourly change is 0.4 t/MWh times the change in gas
    series, fit = marginal_intensity(gen, {"lignite": 1.2, "gas": 0.4, "wind": 0.0})
    np.testing.assert_allclose(fit["slope_t_per_mwh"].values, 0.4, atol=1e-9)
    np.testing.assert_allclose(fit["r2"].values, 1.0, atol=1e-9)
    np.testing.assert_allclose(series.values, 0.4, atol=1e-9)
    assert fit.sizes == {"hour": 24, "season": 4}
    assert int(fit["n"].sum()) == 366 * 24 - 1
    # the default fleet is the emitting fuels; wind is not in it
    assert fit.attrs["fleet"] == "lignite, gas"


def test_marginal_per_hour_bin_finds_which_fuel_is_at_the_margin():
    rng = np.random.default_rng(1)
    n = 60 * 24
    hour = np.arange(n) % 24
    swing = rng.normal(0, 50, n).cumsum()
    # coal follows the swing from 06:00 to 17:59, gas the rest of the day
    day = (hour >= 6) & (hour < 18)
    coal = 500 + np.where(day, swing, 0.0)
    gas = 300 + np.where(day, 0.0, swing)
    gen = _generation({"coal": coal, "gas": gas})
    _, fit = marginal_intensity(gen, {"coal": 1.0, "gas": 0.4}, by=("hour",))
    slope = fit["slope_t_per_mwh"].to_series()
    # a change at hour h is value(h) - value(h-1): hours 7..17 see only coal move, 19..5 only gas
    np.testing.assert_allclose(slope.loc[7:17], 1.0, atol=1e-9)
    np.testing.assert_allclose(slope.loc[[19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5]], 0.4, atol=1e-9)


def test_quarter_hour_input_gets_its_bins_slope():
    hourly = _synthetic_year()
    quarter = hourly.resample(time="15min").ffill()
    series, fit = marginal_intensity(quarter, {"lignite": 1.2, "gas": 0.4, "wind": 0.0}, by=())
    assert series.sizes["time"] == quarter.sizes["time"]
    assert fit["slope_t_per_mwh"].item() == pytest.approx(0.4)


def test_bins_follow_the_given_timezone():
    gen = _synthetic_year()
    series, fit = marginal_intensity(gen, {"lignite": 1.2, "gas": 0.4, "wind": 0.0},
                                     by=("hour",), tz="Asia/Shanghai")
    assert fit.attrs["bin_timezone"] == "Asia/Shanghai"
    # the first UTC hour of 2016 is 08:00 in Shanghai: it takes the slope of bin 8
    assert series.isel(time=0).item() == pytest.approx(fit["slope_t_per_mwh"].sel(hour=8).item())


def test_marginal_rejects_bad_arguments():
    gen = _synthetic_year()
    factors = {"lignite": 1.2, "gas": 0.4, "wind": 0.0}
    with pytest.raises(DataError, match="by must list distinct bins"):
        marginal_intensity(gen, factors, by=("weekday",))
    with pytest.raises(DataError, match=r"fuels must be a non-empty subset .* \(got \['coal'\]\)"):
        marginal_intensity(gen, factors, fuels=["coal"])
    daily = gen.resample(time="1D").mean()
    with pytest.raises(DataError, match="must be hourly or finer"):
        marginal_intensity(daily, factors)


# --------------------------------------------------------------------------- factor table


def test_factor_table_matches_the_shared_source_rows(shared_data):
    ours = read_fuel_emission_factors()
    shared = pd.read_csv(shared_data / "emission_factors" / "generator_emission_factors.csv")
    eu = shared[shared.source_id == "PSD_EU"].set_index(["technology", "pollutant"])["value"]
    for fuel, technology in [("lignite", "lignite"), ("hard coal", "hard coal"),
                             ("gas", "CCGT (gas)"), ("oil", "oil")]:
        for pollutant, column in [("CO2", "co2_t_per_mwh"), ("NOx", "nox_t_per_mwh"), ("SO2", "so2_t_per_mwh")]:
            # kg/MWh in the shared table, t/MWh here
            assert ours.at[fuel, column] == pytest.approx(eu[(technology, pollutant)] / 1000), (fuel, pollutant)
    assert ours.at["biomass", "co2_t_per_mwh"] == 0.0  # biogenic, see data/README.md
    assert np.isnan(ours.at["waste", "nox_t_per_mwh"])  # no sourced value: left empty


def test_bad_factor_file_names_column_and_row(tmp_path):
    path = tmp_path / "factors.csv"
    path.write_text("fuel,co2_t_per_mwh,nox_t_per_mwh,so2_t_per_mwh,pm25_t_per_mwh,basis,source\n"
                    "coal,1.0,0,0,0,direct,x\n"
                    "gas,abc,0,0,0,direct,x\n")
    with pytest.raises(DataError, match=r"factors.csv: column 'co2_t_per_mwh' must be a number >= 0 "
                                        r"\(got 'abc' in row 3\)"):
        read_fuel_emission_factors(path)


# --------------------------------------------------------------------------- SimBench signal


@pytest.fixture(scope="module")
def signal():
    return simbench_carbon_signal()


@pytest.fixture(scope="module")
def ehv_generation():
    from gridopt.io.simbench import simbench_generation_by_fuel
    from gridopt.network import load_network

    return simbench_generation_by_fuel(load_network("simbench:1-EHV-mixed--0-sw"))


def test_signal_layout(signal):
    assert signal.sizes["time"] == 35136
    assert signal.indexes["time"][0] == pd.Timestamp("2015-12-31 23:00")
    for name in ("ext_grid_co2_average_t_per_mwh", "ext_grid_co2_marginal_t_per_mwh"):
        assert signal[name].attrs["units"] == "t MWh-1"
        assert signal[name].attrs["cell_methods"] == "time: mean"
        assert np.isfinite(signal[name].values).all()
        assert f"{name}_qc" in signal
    assert {"method", "factor_set", "source", "title", "source_timezone"} <= set(signal.attrs)


def test_signal_annual_average_by_hand(signal, ehv_generation):
    # SimBench 1-EHV-mixed 2016 energy by fuel (TWh, sum of rated power x profile / 4 / 1e6):
    # lignite 120.358, hard coal 80.705, nuclear 58.512, wind offshore 27.164, wind onshore
    # 9.173, gas 6.282, imp0 5.389, mixed 4.563, run of river 3.335, biomass 1.078, pv 0.288,
    # imp1 0.108, oil 0.004, waste 0.001; total 316.96 TWh.
    # CO2 (t/MWh, data/simbench_fuel_emission_factors.csv): 1.212*120.358 + 1.021*80.705
    # + 0.366*6.282 + 0.281*(5.389 + 0.108) + 0.762*0.004 + 0.575*0.001 = 232.12 Mt
    # -> 232.12 / 316.96 = 0.732 t/MWh.
    # UBA estimated 0.527 t/MWh for Germany's 2016 power mix (press release, 30 May 2017); the
    # EHV grid is dirtier because it holds the large coal and lignite plants (63 % of its
    # generation) while most wind, PV and gas generation sits in lower-voltage grids.
    total = ehv_generation.sum("fuel")
    average = signal["ext_grid_co2_average_t_per_mwh"]
    weighted = float((average * total).sum() / total.sum())
    assert weighted == pytest.approx(0.732, abs=0.001)
    assert weighted > 0.527
    assert float(average.mean()) == pytest.approx(0.731, abs=0.002)  # plain mean over the steps


def test_well_fitted_marginal_factors_lie_within_the_fleet(signal, ehv_generation):
    factors = read_fuel_emission_factors()["co2_t_per_mwh"]
    _, fit = marginal_intensity(ehv_generation, factors, tz="Europe/Berlin")
    good = fit["r2"].values > 0.5
    # a marginal MWh comes from some mix of the fleet, so a well-determined slope must lie
    # between its cleanest (imports, 0.281) and dirtiest (lignite, 1.212) factor
    assert good.sum() >= 90  # of 96 hour x season bins (2016: 92)
    slopes = fit["slope_t_per_mwh"].values[good]
    assert slopes.min() >= 0.281 and slopes.max() <= 1.212
    assert float(signal["ext_grid_co2_marginal_t_per_mwh"].mean()) == pytest.approx(0.761, abs=0.005)


def test_signal_is_cached_and_returned_as_a_copy(signal):
    hits = _simbench_carbon_year.cache_info().hits
    july = simbench_carbon_signal("2016-07-01 00:00", "2016-07-01 23:45")
    assert _simbench_carbon_year.cache_info().hits == hits + 1
    assert july.sizes["time"] == 96
    july["ext_grid_co2_average_t_per_mwh"][:] = -1.0
    again = simbench_carbon_signal("2016-07-01 00:00", "2016-07-01 23:45")
    assert (again["ext_grid_co2_average_t_per_mwh"].values > 0).all()
