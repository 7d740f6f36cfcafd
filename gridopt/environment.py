"""Environmental signals for dispatch: carbon intensity (average and marginal).

Sections:

- Carbon intensity: ``average_intensity``, ``marginal_intensity``, ``read_fuel_emission_factors``
  and the SimBench 2016 signal ``simbench_carbon_signal``.

Generation arrays are ``generation_mw(time, fuel)``: mean MW over each step, injection positive.
Emission factors are tonnes of pollutant per MWh generated (t/MWh = kg/kWh), one per fuel.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.series import Rule, add_series, range_flags, select_time, series_attrs

__all__ = [
    "FUEL_FACTORS_FILE",
    "SIMBENCH_CARBON_GRID",
    "read_fuel_emission_factors",
    "average_intensity",
    "marginal_intensity",
    "simbench_carbon_signal",
]

# =========================================================================== carbon intensity

FUEL_FACTORS_FILE = (
    Path(__file__).resolve().parents[1] / "data" / "simbench_fuel_emission_factors.csv"
)
SIMBENCH_CARBON_GRID = "simbench:1-EHV-mixed--0-sw"
_FACTOR_COLUMNS = ("co2_t_per_mwh", "nox_t_per_mwh", "so2_t_per_mwh", "pm25_t_per_mwh")
_INTENSITY_UNITS = "t MWh-1"
# A fuel whose factor is at least this is "emitting" (combustion): the default fleet of the
# marginal regression. It separates fossil fuels and imports (direct 0.28-1.2, lifecycle >= 0.23
# t/MWh) from wind, solar, hydro and nuclear (0 direct, <= 0.05 lifecycle, IPCC AR5 medians).
_EMITTING_T_PER_MWH = 0.1
_BIN_VALUES = {"hour": np.arange(24), "season": np.array(["DJF", "MAM", "JJA", "SON"])}
_SEASON_OF_MONTH = np.array(["DJF"] * 2 + ["MAM"] * 3 + ["JJA"] * 3 + ["SON"] * 3 + ["DJF"])
_MIN_FIT_POINTS = 3
_SILER_EVANS = (
    "Siler-Evans, Azevedo & Morgan (2012), Marginal Emissions Factors for the U.S. Electricity "
    "System, Environ. Sci. Technol. 46(9):4742-4748"
)


def read_fuel_emission_factors(path: str | Path | None = None) -> pd.DataFrame:
    """The emission-factor table (default ``data/simbench_fuel_emission_factors.csv``).

    Indexed by ``fuel``; columns ``co2_t_per_mwh``, ``nox_t_per_mwh``, ``so2_t_per_mwh``,
    ``pm25_t_per_mwh`` (NaN where no sourced value exists), ``basis`` and ``source``.
    """
    path = Path(path) if path is not None else FUEL_FACTORS_FILE
    if not path.is_file():
        raise DataError(f"{path}: emission-factor file not found")
    table = pd.read_csv(path, dtype={"fuel": str})
    missing = [c for c in ("fuel", *_FACTOR_COLUMNS, "basis", "source") if c not in table]
    if missing:
        raise DataError(f"{path.name}: column '{missing[0]}' is missing")
    for column in _FACTOR_COLUMNS:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = (values.isna() & table[column].notna()) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path.name}: column '{column}' must be a number >= 0 "
                            f"(got {table[column].iloc[row]!r} in row {row + 2})")
        table[column] = values
    duplicated = table["fuel"].duplicated()
    if duplicated.any():
        first = table["fuel"][duplicated].iloc[0]
        raise DataError(f"{path.name}: fuel must be unique (got '{first}' twice)")
    return table.set_index("fuel")


def average_intensity(
    generation_mw: xr.DataArray, factors_t_per_mwh: Mapping[str, float]
) -> xr.DataArray:
    """Generation-weighted emission intensity Σ g·k / Σ g per step, in t/MWh.

    Negative generation (a unit consuming: pumping, exports booked as a fuel) emits nothing
    here and is left out of both sums, so it can neither lower nor raise the intensity. A step
    with no positive generation is NaN, as is a step with any NaN generation. A fuel in
    ``generation_mw`` without a (finite) factor is a DataError naming it.
    """
    gen = _positive_generation(generation_mw)
    factors = _factor_vector(gen, factors_t_per_mwh)
    emissions = (gen * factors).sum("fuel", skipna=False)
    total = gen.sum("fuel", skipna=False)
    intensity = (emissions / total).where(total > 0)
    intensity.name = "average_intensity_t_per_mwh"
    intensity.attrs = series_attrs(
        _INTENSITY_UNITS, "generation-weighted average emission intensity", Rule.MEAN
    )
    return intensity


def marginal_intensity(
    generation_mw: xr.DataArray,
    factors_t_per_mwh: Mapping[str, float],
    *,
    by: Iterable[str] = ("hour", "season"),
    fuels: Iterable[str] | None = None,
    tz: str = "UTC",
) -> tuple[xr.DataArray, xr.Dataset]:
    """Marginal emission factor by regression of hourly changes (Siler-Evans et al. 2012).

    Per bin, fits ΔE = slope · ΔG + intercept by least squares, where E = Σ g·k over all fuels
    (t/h) and G is the generation of ``fuels`` (MW), both hourly means, Δ the change from the
    previous hour. ``fuels`` defaults to the emitting fleet, fuels with a factor >= 0.1 t/MWh:
    like Siler-Evans et al., who regress on fossil generation, it leaves out wind, solar,
    hydro and nuclear, whose changes follow weather and schedules rather than demand. Negative
    generation counts as zero (as in ``average_intensity``). Finer-than-hourly input is averaged
    to hours first; coarser input is a DataError.

    ``by`` chooses the bins from "hour" (hour of day in ``tz``, of the later hour of each
    change) and "season" (DJF, MAM, JJA, SON); ``()`` fits one line to all changes.

    Returns the slope of each step's bin on the input's time axis (t/MWh; NaN where a bin has
    fewer than 3 changes or no spread in ΔG) and the fit table with dims ``by``:
    ``slope_t_per_mwh``, ``intercept_t_per_h``, ``r2``, ``n``.
    """
    by = _check_bins(by)
    gen = _positive_generation(generation_mw)
    factors = _factor_vector(gen, factors_t_per_mwh)
    fleet = _fleet(gen, factors, fuels)
    hourly = _hourly(pd.DataFrame({
        "e": (gen * factors).sum("fuel", skipna=False).values,
        "g": gen.sel(fuel=fleet).sum("fuel", skipna=False).values,
    }, index=gen.indexes["time"]))
    change = hourly.diff().iloc[1:]
    codes = _bin_codes(change.index, by, tz)
    fit = _fit_bins(change["e"].to_numpy(), change["g"].to_numpy(), codes, by)
    slope = fit["slope_t_per_mwh"].values.ravel()[_bin_codes(gen.indexes["time"], by, tz)]
    series = xr.DataArray(slope, dims="time", coords={"time": gen["time"]},
                          name="marginal_intensity_t_per_mwh")
    series.attrs = series_attrs(
        _INTENSITY_UNITS, "marginal emission factor", Rule.MEAN,
        comment=f"slope of hourly dE on dG of {', '.join(fleet)} per {' x '.join(by) or 'all'} "
                f"bin ({tz} hours); {_SILER_EVANS}",
    )
    fit.attrs = {"fleet": ", ".join(fleet), "bins": " x ".join(by), "bin_timezone": tz,
                 "references": _SILER_EVANS}
    return series, fit


def simbench_carbon_signal(start=None, end=None) -> xr.Dataset:
    """CO2 intensity of SimBench's 2016 German EHV dispatch, 15-min, UTC.

    ``ext_grid_co2_average_t_per_mwh(time)`` and ``ext_grid_co2_marginal_t_per_mwh(time)``
    from the power-plant and renewable profiles of ``1-EHV-mixed--0-sw`` (generation by fuel =
    Σ rated power × profile, see ``gridopt.io.simbench.simbench_generation_by_fuel``) and the
    direct-combustion CO2 factors of ``data/simbench_fuel_emission_factors.csv`` (imports at the
    EU-27 mix). The marginal factor is fitted per local (Europe/Berlin) hour of day × season on
    the whole year, whatever ``start``/``end`` (UTC, inclusive) select. Computed once per
    process (several seconds: the EHV grid is loaded) and cached.
    """
    year = _simbench_carbon_year()
    where = f"SimBench carbon signal ({SIMBENCH_CARBON_GRID})"
    return select_time(year, start, end, where=where).copy(deep=True)


@functools.lru_cache(maxsize=1)
def _simbench_carbon_year() -> xr.Dataset:
    # Imported here: only this signal needs SimBench (and through it pandapower).
    from gridopt.io.simbench import SIMBENCH_TZ, simbench_generation_by_fuel
    from gridopt.network import load_network

    net = load_network(SIMBENCH_CARBON_GRID)
    generation = simbench_generation_by_fuel(net)
    factors = read_fuel_emission_factors()["co2_t_per_mwh"]
    average = average_intensity(generation, factors)
    marginal, fit = marginal_intensity(generation, factors, tz=SIMBENCH_TZ)
    ds = xr.Dataset(coords={"time": generation["time"]})
    for name, series, what in (
        ("ext_grid_co2_average_t_per_mwh", average, "average CO2 intensity of generation"),
        ("ext_grid_co2_marginal_t_per_mwh", marginal, "marginal CO2 emission factor"),
    ):
        attrs = {**series.attrs, "long_name": f"{what} (direct combustion)"}
        add_series(ds, name, series, range_flags(series.values, -np.inf, np.inf), attrs)
    ds["time"].attrs["timezone"] = "UTC"
    ds.attrs = {
        "title": "CO2 intensity of the SimBench 2016 EHV power-plant dispatch",
        "source": f"{SIMBENCH_CARBON_GRID} profiles (simbench); {FUEL_FACTORS_FILE.name}",
        "source_timezone": SIMBENCH_TZ,
        "method": "average: generation-weighted mean of fuel factors; marginal: regression of "
                  f"hourly changes in emissions on changes in {fit.attrs['fleet']} generation "
                  f"per {fit.attrs['bins']} bin (Europe/Berlin hours)",
        "factor_set": f"{FUEL_FACTORS_FILE.name}: co2_t_per_mwh (direct combustion; imports at "
                      "the EU-27 generation mix; biomass biogenic = 0)",
        "marginal_fit_median_r2": float(np.nanmedian(fit["r2"].values)),
        "references": f"Meinecke et al. (2020), Energies 13(12):3290 (SimBench); {_SILER_EVANS}",
    }
    return ds


def _positive_generation(generation_mw: xr.DataArray) -> xr.DataArray:
    """``generation_mw`` as (time, fuel) floats with negative values set to 0 (NaN kept)."""
    if set(generation_mw.dims) != {"time", "fuel"}:
        raise DataError(f"generation_mw must have dims (time, fuel) (got {generation_mw.dims})")
    gen = generation_mw.transpose("time", "fuel").astype(float)
    return gen.where(~(gen < 0), 0.0)


def _factor_vector(gen: xr.DataArray, factors: Mapping[str, float]) -> xr.DataArray:
    """The factor of each fuel of ``gen`` as a DataArray over ``fuel``."""
    values = []
    for fuel in gen["fuel"].values.tolist():
        value = factors.get(fuel)
        if value is None or not np.isfinite(value):
            known = ", ".join(sorted(str(k) for k in factors))
            raise DataError(
                f"emission factors: fuel '{fuel}' has no factor (got factors for {known})"
            )
        values.append(float(value))
    return xr.DataArray(values, dims="fuel", coords={"fuel": gen["fuel"]})


def _fleet(gen: xr.DataArray, factors: xr.DataArray, fuels: Iterable[str] | None) -> list[str]:
    available = gen["fuel"].values.tolist()
    if fuels is None:
        return [f for f in available if factors.sel(fuel=f) >= _EMITTING_T_PER_MWH]
    fleet = list(fuels)
    unknown = [f for f in fleet if f not in available]
    if unknown or not fleet:
        raise DataError(f"fuels must be a non-empty subset of generation_mw fuels {available} "
                        f"(got {unknown or fleet})")
    return fleet


def _check_bins(by: Iterable[str]) -> tuple[str, ...]:
    by = tuple(by)
    if len(set(by)) != len(by) or any(b not in _BIN_VALUES for b in by):
        raise DataError(f"by must list distinct bins from {tuple(_BIN_VALUES)} (got {by})")
    return by


def _hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """Hourly means; an hour with a missing step is NaN (not a mean of the rest)."""
    step = frame.index.to_series().diff().median() if len(frame) > 1 else pd.Timedelta("1h")
    if step > pd.Timedelta("1h"):
        raise DataError(
            f"generation_mw must be hourly or finer for marginal_intensity (got a {step} step)"
        )
    return frame.resample("1h").mean().where(~frame.isna().resample("1h").max())


def _bin_codes(times: pd.DatetimeIndex, by: tuple[str, ...], tz: str) -> np.ndarray:
    """The flat bin number of each time (row-major over ``by``)."""
    if not by:
        return np.zeros(len(times), dtype=int)
    local = times.tz_localize("UTC").tz_convert(tz)
    labels = {"hour": local.hour.to_numpy(), "season": _SEASON_OF_MONTH[local.month.to_numpy() - 1]}
    codes = [pd.Index(_BIN_VALUES[b]).get_indexer(labels[b]) for b in by]
    return np.ravel_multi_index(codes, [len(_BIN_VALUES[b]) for b in by])


def _fit_bins(
    d_e: np.ndarray, d_g: np.ndarray, codes: np.ndarray, by: tuple[str, ...]
) -> xr.Dataset:
    """Least-squares line ΔE = slope·ΔG + intercept in each bin, with r² and count."""
    shape = [len(_BIN_VALUES[b]) for b in by]
    size = int(np.prod(shape))
    slope, intercept, r2 = (np.full(size, np.nan) for _ in range(3))
    n = np.zeros(size, dtype=int)
    ok = np.isfinite(d_e) & np.isfinite(d_g)
    for b in range(size):
        x, y = d_g[ok & (codes == b)], d_e[ok & (codes == b)]
        n[b] = len(x)
        if len(x) < _MIN_FIT_POINTS or np.ptp(x) == 0:
            continue
        design = np.column_stack([x, np.ones_like(x)])
        (slope[b], intercept[b]), *_ = np.linalg.lstsq(design, y, rcond=None)
        ss_tot = np.sum((y - y.mean()) ** 2)
        residual = y - design @ np.array([slope[b], intercept[b]])
        r2[b] = 1 - np.sum(residual**2) / ss_tot if ss_tot > 0 else np.nan
    coords = {b: _BIN_VALUES[b] for b in by}
    return xr.Dataset(
        {
            "slope_t_per_mwh": (by, slope.reshape(shape), {"units": _INTENSITY_UNITS,
                                                          "long_name": "marginal emission factor"}),
            "intercept_t_per_h": (by, intercept.reshape(shape), {"units": "t h-1"}),
            "r2": (by, r2.reshape(shape), {"long_name": "coefficient of determination"}),
            "n": (by, n.reshape(shape), {"long_name": "hourly changes in the bin"}),
        },
        coords=coords,
    )
