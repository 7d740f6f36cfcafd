"""Series sources of model files: the EIA-930 carbon signal with its factor sets, year shifting."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.config import load_model
from gridopt.io.eia930 import open_eia930
from gridopt.sources import SourceContext, load_source, shift_to_year

CISO = "carbon_intensity/eia930_CISO_2022_hourly_gen_by_fuel_and_avgCI.csv"


def _model(tmp_path, shared_data, factor_set: str):
    path = tmp_path / "m.toml"
    path.write_text(textwrap.dedent(f"""
        name = "t"
        [network]
        source = "pandapower:case9"
        [time]
        start = "2022-07-01T00:00:00Z"
        hours = 48
        [series.carbon]
        loader = "eia930"
        path = "{CISO}"
        factor_set = "{factor_set}"
    """))
    return load_model(path, shared_data)


def _carbon(config):
    ctx = SourceContext(config, None, config.time.start_utc, config.time.end_utc)
    return load_source("carbon", config.series["carbon"], ctx)


def test_lifecycle_average_is_the_files_avg_ci(tmp_path, shared_data):
    ds = _carbon(_model(tmp_path, shared_data, "lifecycle"))
    raw = open_eia930(shared_data / CISO)["grid_co2_average_t_per_mwh"].sel(time=ds.time)
    np.testing.assert_allclose(ds.ext_grid_co2_average_t_per_mwh.values, raw.values, rtol=1e-9)
    assert ds.ext_grid_co2_marginal_t_per_mwh.attrs["marginal_fit_median_r2"] > 0.5


def test_direct_factors_count_combustion_only(tmp_path, shared_data):
    lifecycle = _carbon(_model(tmp_path, shared_data, "lifecycle")).ext_grid_co2_average_t_per_mwh
    direct = _carbon(_model(tmp_path, shared_data, "direct")).ext_grid_co2_average_t_per_mwh
    # Gas 370 vs 490 g/kWh and no upstream emissions of solar/wind/hydro/nuclear: always lower.
    assert (direct.values < lifecycle.values).all()
    assert direct.attrs["factor_set"] == "direct"


def test_shift_to_year_keeps_weekdays():
    times = pd.date_range("2016-01-01", "2016-12-31 23:00", freq="1h")
    ds = xr.Dataset({"x": ("time", np.arange(times.size, dtype=float))}, coords={"time": times})
    shifted = shift_to_year(ds, 2021)
    assert shifted.attrs["time_shift_days"] == 1827  # 261 weeks
    assert (shifted.indexes["time"].dayofweek == times.dayofweek).all()
    assert shifted.indexes["time"][0] == pd.Timestamp("2021-01-01")
