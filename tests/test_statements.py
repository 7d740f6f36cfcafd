"""Per-EV-session statement: energy, cost and CO2 at the hour of charging, checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest
import xarray as xr

from gridopt.errors import DataError
from gridopt.statements import ev_statement


def _results() -> xr.Dataset:
    times = pd.date_range("2016-06-06", periods=3, freq="1h")
    return xr.Dataset(
        {
            "ev_p_mw": (("time", "session"), [[0.010, 0.0], [0.0, 0.0], [0.005, 0.007]]),
            "ev_bus": ("session", [11, 12]),
            "ev_unmet_mwh": ("session", [0.0, 0.001]),
            "ext_grid_price_per_mwh": ("time", [40.0, 60.0, 100.0]),
            "ext_grid_co2_marginal_t_per_mwh": ("time", [0.8, 0.7, 0.5]),
            "ext_grid_co2_average_t_per_mwh": ("time", [0.4, 0.4, 0.3]),
        },
        coords={"time": times, "session": ["a", "b"]},
        attrs={"time_step_h": 1.0, "currency": "EUR"},
    )


def test_statement_by_hand():
    frame = ev_statement(_results()).set_index("session")
    a, b = frame.loc["a"], frame.loc["b"]
    # a: 10 kWh at 40 EUR/MWh and 5 kWh at 100 → 0.4 + 0.5 = 0.9 EUR; CO2 0.008 + 0.0025 t (marginal).
    assert a.energy_mwh == pytest.approx(0.015)
    assert a.cost_eur == pytest.approx(0.9)
    assert a.co2_marginal_t == pytest.approx(0.0105)
    assert a.co2_average_t == pytest.approx(0.004 + 0.0015)
    assert a.mean_price_eur_per_mwh == pytest.approx(60.0)
    assert (a.first_charge_utc, a.last_charge_utc) == ("2016-06-06T00:00Z", "2016-06-06T02:00Z")
    assert (b.bus, b.unmet_mwh, b.cost_eur) == (12, 0.001, pytest.approx(0.7))


def test_statement_needs_ev_charging():
    with pytest.raises(DataError, match="run x: has no EV charging"):
        ev_statement(_results().drop_vars("ev_p_mw"), where="run x")
