"""SimBench 2016 profiles as series: loads, generation availability, storage, dispatch by fuel.

SimBench nets carry relative profiles in ``net.profiles`` (tables ``load``, ``powerplants``,
``renewables``, ``storage``; one column per profile name, 35,136 quarter-hours of 2016); an
element's absolute value is its rated column (``p_mw``, ``q_mvar``) times the profile named in its
``profile`` column. Everything here reads the installed package; nothing is downloaded.

Time zone of the SimBench ``time`` column: **local German time with daylight saving
(Europe/Berlin)**, each stamp the start of its quarter-hour. Evidence, checked on
simbench 1.6: the column skips 02:00-02:45 on 27 March 2016 and repeats 02:00-02:45 on
30 October 2016 (the two 2016 DST switches), in every profile table of every grid; the PV profiles'
daily centre of mass jumps by about +1 h across 27 March and -1 h across 30 October, as wall-clock
time does. The SimBench maintainers confirm the data have no time zone information and are
affected by DST (github.com/e2nIEE/simbench issues #16 "timezone" and #1 on the repeated hour of
30 October). The loaders convert to UTC with ``gridopt.io.series.to_utc``, the repeated hour
resolved by order, giving a gap-free 15-min UTC axis from 2015-12-31 23:00 to 2016-12-31 22:45.

Reference: Meinecke et al. (2020), "SimBench - A Benchmark Dataset of Electric Power Systems to
Compare Innovative Solutions Based on Power Flow Analysis", Energies 13(12):3290.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import simbench
import xarray as xr
from pandapower.auxiliary import pandapowerNet

from gridopt.errors import DataError
from gridopt.io.series import Rule, add_series, range_flags, select_time, series_attrs, to_utc

__all__ = ["SIMBENCH_TZ", "open_simbench_profiles", "simbench_generation_by_fuel"]

SIMBENCH_TZ = "Europe/Berlin"
_TIME_FORMAT = "%d.%m.%Y %H:%M"
_STEP = pd.Timedelta("15min")
_REFERENCES = (
    "Meinecke et al. (2020), SimBench - A Benchmark Dataset of Electric Power Systems to "
    "Compare Innovative Solutions Based on Power Flow Analysis, Energies 13(12):3290"
)

# (variable, table, column of the net, units, long name): what open_simbench_profiles returns
_SERIES = (
    ("load_p_mw", "load", "p_mw", "MW", "active power demand of the load"),
    ("load_q_mvar", "load", "q_mvar", "MVAr", "reactive power demand of the load"),
    ("sgen_p_max_mw", "sgen", "p_mw", "MW", "available active power of the static generator"),
    ("storage_p_mw", "storage", "p_mw", "MW",
     "scheduled active power of the storage (positive = charging)"),
)
# Which net.profiles tables hold the profiles of an element table (gen and sgen share two).
_PROFILE_TABLES = {
    "load": ("load",),
    "storage": ("storage",),
    "sgen": ("powerplants", "renewables"),
    "gen": ("powerplants", "renewables"),
    "ext_grid": ("powerplants", "renewables"),
}


def open_simbench_profiles(net: pandapowerNet, *, start=None, end=None) -> xr.Dataset:
    """The 2016 profiles of a SimBench net in absolute units, on a 15-min UTC axis.

    Variables: ``load_p_mw(time, load)``, ``load_q_mvar(time, load)`` (consumption positive),
    ``sgen_p_max_mw(time, sgen)`` (availability: rated ``p_mw`` × profile; what the sgen could
    feed in, before any curtailment), and ``storage_p_mw(time, storage)`` when the net has
    storage (SimBench's schedule, pandapower sign: positive = charging). Element coordinates
    hold the pandapower index of the table. ``start``/``end`` (UTC, inclusive) select a period.
    Absolute values come from ``simbench.get_absolute_values``.

    SimBench's PV home storages (scenario 2 grids) have a negative ``p_mw`` and a profile in
    [0, 0.6] that peaks at midday, so their schedule reads as discharging at noon. It is
    passed on as SimBench gives it; the optimizer decides storage power itself.
    """
    where = _where(net)
    for table in ("load", "sgen", "gen", "storage"):  # get_absolute_values reads all four
        _check_profile_names(net, table, where)
    time = _profile_time(net, ("load", "powerplants", "renewables"), where)
    absolute = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    ds = xr.Dataset(coords={"time": time})
    for name, table, column, units, long_name in _SERIES:
        if table == "storage" and not len(net.storage):
            continue
        values = absolute[(table, column)].to_numpy(dtype=float)
        data = xr.DataArray(
            values, dims=("time", table), coords={"time": time, table: net[table].index.to_numpy()}
        )
        attrs = series_attrs(units, long_name, Rule.MEAN)
        add_series(ds, name, data, range_flags(values, -np.inf, np.inf), attrs)
    ds["time"].attrs["timezone"] = "UTC"
    ds.attrs.update(_dataset_attrs(net, "load, generation and storage profiles"))
    return select_time(ds, start, end, where=where)


def simbench_generation_by_fuel(net: pandapowerNet, *, start=None, end=None) -> xr.DataArray:
    """Power-plant and renewable generation of a SimBench net summed by ``type``, in MW.

    ``generation_mw(time, fuel)``, ``fuel`` being the ``type`` column of gen, sgen and ext_grid
    (e.g. lignite, hard coal, gas, imp0, wind onshore, nuclear). Each in-service unit with a
    profile contributes rated power × profile: ``p_mw`` for gen and sgen, ``p_disp_mw`` for
    ext_grid rows with a profile (SimBench models some large plants, e.g. the nuclear units of
    1-EHV-mixed, as slack ext_grids). The sum is one matrix product over the profile columns,
    not a frame per unit. ``start``/``end`` (UTC, inclusive) select a period.
    """
    where = _where(net)
    units = pd.concat([_units(net, "gen", "p_mw", where), _units(net, "sgen", "p_mw", where),
                       _units(net, "ext_grid", "p_disp_mw", where)])
    if units.empty:
        raise DataError(f"{where}: no gen, sgen or ext_grid with a profile and a type")
    weights = units.pivot_table(index="profile", columns="type", values="p_mw",
                                aggfunc="sum", fill_value=0.0)
    tables = _PROFILE_TABLES["gen"]
    time = _profile_time(net, tables, where)
    relative = pd.concat([net.profiles[t].drop(columns="time") for t in tables], axis=1)
    values = relative[weights.index].to_numpy(dtype=float) @ weights.to_numpy()
    generation = xr.DataArray(
        values, dims=("time", "fuel"),
        coords={"time": time, "fuel": weights.columns.astype(str).to_numpy()},
        name="generation_mw",
        attrs=series_attrs("MW", "generation by fuel type", Rule.MEAN),
    )
    return select_time(generation, start, end, where=where)


def _where(net: pandapowerNet) -> str:
    return f"network '{net.name}'" if net.name else "network"


def _units(net: pandapowerNet, table: str, column: str, where: str) -> pd.DataFrame:
    """In-service rows of ``table`` that have a profile and a type: profile, type, p_mw."""
    frame = net[table]
    needed = {"profile", "type", column}
    if frame.empty or not needed <= set(frame.columns):
        return pd.DataFrame(columns=["profile", "type", "p_mw"])
    frame = frame[frame["in_service"].astype(bool) & frame["profile"].notna()]
    _check_profile_names(net, table, where)
    return pd.DataFrame({"profile": frame["profile"], "type": frame["type"].fillna("unspecified"),
                         "p_mw": frame[column].astype(float)})


def _check_profile_names(net: pandapowerNet, table: str, where: str) -> None:
    """Raise DataError for the first element whose profile is absent from net.profiles."""
    frame = net[table]
    if frame.empty or "profile" not in frame:
        return
    available: set[str] = set()
    for name in _PROFILE_TABLES[table]:
        available |= set(_profiles(net, name, where).columns)
    suffixes = ("_pload", "_qload") if table == "load" else ("",)
    for suffix in suffixes:
        wanted = frame["profile"].dropna() + suffix
        missing = wanted[~wanted.isin(available)]
        if len(missing):
            idx = missing.index[0]
            raise DataError(
                f"{where}: {table} {idx} profile '{missing.iloc[0]}' is missing from "
                f"net.profiles[{' or '.join(repr(t) for t in _PROFILE_TABLES[table])}]"
            )


def _profiles(net: pandapowerNet, name: str, where: str) -> pd.DataFrame:
    profiles = net.get("profiles") or {}
    if name not in profiles:
        raise DataError(
            f"{where}: net.profiles['{name}'] is missing (not a SimBench net with profiles?)"
        )
    if "time" not in profiles[name]:
        raise DataError(f"{where}: net.profiles['{name}'] must have a 'time' column")
    return profiles[name]


def _profile_time(net: pandapowerNet, tables: tuple[str, ...], where: str) -> pd.DatetimeIndex:
    """The shared ``time`` column of the given profile tables, as naive UTC (see module doc)."""
    columns = [_profiles(net, t, where)["time"] for t in tables]
    local = columns[0]
    for name, other in zip(tables[1:], columns[1:]):
        if not np.array_equal(other.to_numpy(), local.to_numpy()):
            raise DataError(f"{where}: net.profiles['{name}'] time must equal that of "
                            f"net.profiles['{tables[0]}'] (got a different time column)")
    try:
        parsed = pd.to_datetime(local, format=_TIME_FORMAT)
    except ValueError as exc:
        raise DataError(f"{where}: net.profiles['{tables[0]}'] time must read as "
                        f"'{_TIME_FORMAT}' ({exc})") from None
    utc = to_utc(parsed, SIMBENCH_TZ, where=f"{where}: net.profiles['{tables[0]}'] time")
    steps = utc.to_series().diff().dropna().unique()
    if len(utc) > 1 and not (len(steps) == 1 and steps[0] == _STEP):
        raise DataError(f"{where}: net.profiles time must be a gap-free 15-min series in UTC "
                        f"(got steps {sorted(str(s) for s in steps)})")
    return utc


def _dataset_attrs(net: pandapowerNet, what: str) -> dict[str, str]:
    return {
        "title": f"SimBench {what} of {net.name or 'a SimBench net'}",
        "source": f"net.profiles of {net.name or 'the net'} (simbench {simbench.__version__})",
        "source_timezone": SIMBENCH_TZ,
        "institution": "SimBench consortium (University of Kassel, Fraunhofer IEE, "
                       "RWTH Aachen, TU Dortmund)",
        "references": _REFERENCES,
    }
