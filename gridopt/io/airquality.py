"""Air-quality loaders: Beijing multi-site, PM2.5 of five Chinese cities, and AirQualityUCI.

Each ``open_*`` function reads the CSV files as published on the UCI Machine Learning Repository
and returns an ``xr.Dataset`` following :mod:`gridopt.io.series`: naive-UTC ``time``, CF
attributes, and a ``<name>_qc`` bit-flag variable beside every series.

Quality control, in this order (values are never filled in):

1. ``SENTINEL``: a no-data code of the source becomes NaN: -200 in AirQualityUCI (documented),
   -9999 and 999990 in the five-cities files, and the wind direction "cv" (calm or variable:
   there is no direction to give).
2. ``MISSING``: an empty cell (``NA``) in the source. ``GAP``: an hour absent from the file,
   inserted to make the index regular (also the hours one station lacks and another has).
3. ``OUT_OF_RANGE``: outside the plausible range of the quantity tables below; becomes NaN.
4. ``STUCK`` (:func:`stuck_flags`) and ``SPIKE`` (:func:`spike_flags`): the value is kept.

The quantity tables ``BEIJING``, ``FIVE_CITIES`` and ``AIR_QUALITY_UCI`` state per source column
the plausible range, the STUCK rule (``stuck_hours`` repeats; runs at or below ``stuck_floor`` are
exempt: detection-limit floors, dry hours, calm wind) and the SPIKE floor ``spike_jump``, in the
variable's units; None means not checked. Wind direction (categorical, circular) and cumulated
quantities (they ramp by design) get neither test; rain gets no SPIKE test (showers are isolated
jumps). Pollutant runs are 24 h (a day without a diurnal cycle) above a floor of 5 reporting steps
(1 ug/m3; 100 ug/m3 for Beijing CO); weather runs are 12 h at 0.1 resolution. AirQualityUCI gets
range and sentinel checks only: its sensor-versus-reference QC belongs in ``gridopt.environment``.
"""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.series import QC, Rule, add_series, range_flags, regular_time, series_attrs, to_utc

__all__ = [
    "Quantity",
    "BEIJING",
    "FIVE_CITIES",
    "AIR_QUALITY_UCI",
    "open_beijing_multisite",
    "open_china_5cities",
    "open_airquality_uci",
    "spike_flags",
    "stuck_flags",
]

CHINA_TZ = "Asia/Shanghai"  # UTC+8, no daylight saving since 1991
# AirQualityUCI runs on a fixed UTC+1 clock (Italian standard time, CET) all year. The file has no
# skipped hour on 2004-03-28 (02:00 is present) and no repeated hour on 2004-10-31 or gap on
# 2005-03-27: 9357 consecutive hours. Its morning traffic peak moves from 08:00 (summer) to 09:00
# (winter) on the file's clock, as it must when people keep daylight-saving time and the logger
# does not. "Etc/GMT-1" is the IANA name of UTC+1 (the sign is inverted by POSIX convention).
UCI_TZ = "Etc/GMT-1"

# Degrees clockwise from north that the wind blows from; "cv" (calm/variable) is a sentinel.
_COMPASS = {
    p: 22.5 * i for i, p in enumerate("N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split())
}
_CALM = "cv"


@dataclass(frozen=True)
class Quantity:
    """One source column: its gridopt name, CF units, aggregation rule and QC rules.

    ``low``/``high``: plausible range (inclusive). ``stuck_hours``/``stuck_floor``: see
    :func:`stuck_flags`. ``spike_jump``: ``min_jump`` of :func:`spike_flags`. All in ``units``;
    None: not checked. ``compass``: the column holds compass points, converted to degrees.
    """

    column: str
    name: str
    units: str
    rule: Rule
    low: float
    high: float
    stuck_hours: int | None
    stuck_floor: float | None
    spike_jump: float | None
    long_name: str
    compass: bool = False


Q = Quantity
MEAN, SUM, POINT, INF = Rule.MEAN, Rule.SUM, Rule.POINT, np.inf

# fmt: off
BEIJING = (
    # column  name                      units    rule  low   high stuck floor spike long name
    Q("PM2.5", "aq_pm25_ug_m3",         "ug m-3", MEAN,   0,  1000, 24,    5,  100, "PM2.5 mass concentration"),
    Q("PM10",  "aq_pm10_ug_m3",         "ug m-3", MEAN,   0,  2000, 24,    5,  150, "PM10 mass concentration"),
    Q("SO2",   "aq_so2_ug_m3",          "ug m-3", MEAN,   0,  1000, 24,    5,   30, "SO2 mass concentration"),
    Q("NO2",   "aq_no2_ug_m3",          "ug m-3", MEAN,   0,  1000, 24,    5,   30, "NO2 mass concentration"),
    Q("CO",    "aq_co_ug_m3",           "ug m-3", MEAN,   0, 50000, 24,  500, 1000, "CO mass concentration"),
    Q("O3",    "aq_o3_ug_m3",           "ug m-3", MEAN,   0,  1000, 24,    5,   30, "O3 mass concentration"),
    Q("TEMP",  "weather_temp_c",        "degC",   MEAN, -40,    50, 12, None,    5, "air temperature"),
    Q("PRES",  "weather_pressure_hpa",  "hPa",    MEAN, 900,  1080, 12, None,    3, "station air pressure"),
    Q("DEWP",  "weather_dewpoint_c",    "degC",   MEAN, -50,    35, 12, None,    5, "dew-point temperature"),
    Q("RAIN",  "weather_rain_mm",       "mm",     SUM,    0,   200, 12,    0, None, "precipitation in the hour"),
    Q("WSPM",  "weather_wind_speed_m_s", "m s-1", MEAN,   0,    60, 12,    0,    5, "wind speed"),
    Q("wd",    "weather_wind_dir_deg",  "degree", POINT,  0,   360, None, None, None,
      "direction the wind blows from, clockwise from north", compass=True),
)

# Whole degC and hPa in these files repeat longer than the 0.1 resolution of BEIJING: 24 h runs.
# The PM row stands for every "PM_<post>" column.
FIVE_CITIES = (
    # column  name                      units     rule  low   high stuck floor spike long name
    Q("PM_",   "aq_pm25_ug_m3",         "ug m-3",  MEAN,   0,  1000, 24,    5,  100, "PM2.5 mass concentration"),
    Q("DEWP",  "weather_dewpoint_c",    "degC",    MEAN, -50,    35, 24, None,    8, "dew-point temperature"),
    Q("HUMI",  "weather_rh_percent",    "percent", MEAN,   0,   100, 24, None, None, "relative humidity"),
    Q("PRES",  "weather_pressure_hpa",  "hPa",     MEAN, 900,  1080, 24, None,    5, "station air pressure"),
    Q("TEMP",  "weather_temp_c",        "degC",    MEAN, -40,    50, 24, None,    8, "air temperature"),
    Q("cbwd",  "weather_wind_dir_deg",  "degree",  POINT,  0,   360, None, None, None,
      "combined wind direction (NE, SE, SW, NW): from, clockwise from north", compass=True),
    Q("Iws",   "weather_wind_speed_cum_m_s", "m s-1", POINT, 0,  INF, None, None, None,
      "wind speed summed over the hours since the combined wind direction last changed"),
    Q("precipitation", "weather_rain_mm", "mm",    SUM,    0,   200, 12,    0, None, "precipitation in the hour"),
    Q("Iprec", "weather_rain_cum_mm",   "mm",      POINT,  0,   INF, None, None, None,
      "precipitation summed over the hours of the current rain event"),
)

AIR_QUALITY_UCI = (
    # column       name                  units     rule  low  high  long name
    Q("CO_GT",     "ref_co_mg_m3",       "mg m-3",  MEAN,   0,   50, None, None, None, "CO, reference analyser"),
    Q("NMHC_GT",   "ref_nmhc_ug_m3",     "ug m-3",  MEAN,   0, 5000, None, None, None,
      "non-methane hydrocarbons, reference analyser"),
    Q("C6H6_GT",   "ref_benzene_ug_m3",  "ug m-3",  MEAN,   0,  500, None, None, None, "benzene, reference analyser"),
    Q("NOx_GT",    "ref_nox_ppb",        "ppb",     MEAN,   0, 5000, None, None, None, "NOx, reference analyser"),
    Q("NO2_GT",    "ref_no2_ug_m3",      "ug m-3",  MEAN,   0, 2000, None, None, None, "NO2, reference analyser"),
    Q("PT08_S1_CO",   "sensor_pt08_s1_co",   "1",   MEAN,   0,  INF, None, None, None, "tin oxide sensor (CO)"),
    Q("PT08_S2_NMHC", "sensor_pt08_s2_nmhc", "1",   MEAN,   0,  INF, None, None, None, "titania sensor (NMHC)"),
    Q("PT08_S3_NOx",  "sensor_pt08_s3_nox",  "1",   MEAN,   0,  INF, None, None, None, "tungsten oxide sensor (NOx)"),
    Q("PT08_S4_NO2",  "sensor_pt08_s4_no2",  "1",   MEAN,   0,  INF, None, None, None, "tungsten oxide sensor (NO2)"),
    Q("PT08_S5_O3",   "sensor_pt08_s5_o3",   "1",   MEAN,   0,  INF, None, None, None, "indium oxide sensor (O3)"),
    Q("T",         "weather_temp_c",     "degC",    MEAN, -30,   50, None, None, None, "air temperature"),
    Q("RH",        "weather_rh_percent", "percent", MEAN,   0,  100, None, None, None, "relative humidity"),
    # Published as "AH, absolute humidity" without a unit; the values equal RH x saturation vapour
    # pressure(T) in kPa (ratio 0.99 +- 0.01 over the file; in g/m3 they would be ~7.5x larger).
    Q("AH",        "weather_ah_kpa",     "kPa",     MEAN,   0,   10, None, None, None,
      "absolute humidity as published: water vapour partial pressure"),
)
# fmt: on

_FIVE_CITIES_SENTINELS = (-9999.0, 999990.0)
_UCI_SENTINELS = (-200.0,)
_TIME_PARTS = ["year", "month", "day", "hour"]

_BEIJING_FILE = re.compile(r"^PRSA_Data_(?P<station>.+?)_\d{8}-\d{8}\.csv(\.gz)?$")
_FIVE_CITIES_FILE = re.compile(r"^(?P<city>[A-Za-z]+)PM\d{8}_\d{8}\.csv(\.gz)?$")

_BEIJING_ATTRS = {
    "title": "Beijing multi-site air quality, hourly, 2013-03 to 2017-02",
    "institution": "Beijing Municipal Environmental Monitoring Center (air quality); "
    "China Meteorological Administration (weather)",
    "references": "Zhang S. et al. (2017) Cautionary tales on air-quality improvement in Beijing, "
    "Proc. R. Soc. A 473:20170457; UCI Machine Learning Repository, Beijing Multi-Site "
    "Air-Quality Data",
    "license": "CC BY 4.0",
    "source_timezone": CHINA_TZ,
}
_FIVE_CITIES_ATTRS = {
    "title": "PM2.5 of five Chinese cities with weather, hourly, 2010-2015",
    "institution": "US Department of State (PM2.5 at the US posts); Chinese monitoring stations; "
    "China Meteorological Administration (weather)",
    "references": "Liang X. et al. (2016) PM2.5 data reliability, consistency, and air quality "
    "assessment in five Chinese cities, J. Geophys. Res. Atmos. 121:10220-10236; "
    "UCI Machine Learning Repository, PM2.5 Data of Five Chinese Cities",
    "license": "CC BY 4.0",
    "source_timezone": CHINA_TZ,
    "comment": "weather is per city, repeated for each monitoring post of that city",
}
_UCI_ATTRS = {
    "title": "Air quality multisensor device beside reference analysers, an Italian city, "
    "hourly, 2004-03 to 2005-04",
    "institution": "ENEA (Italian National Agency for New Technologies, Energy and "
    "Sustainable Economic Development)",
    "references": "De Vito S. et al. (2008) On field calibration of an electronic nose for "
    "benzene estimation in an urban pollution monitoring scenario, Sensors and Actuators B "
    "129(2):750-757; UCI Machine Learning Repository, Air Quality",
    "license": "CC BY 4.0",
    "source_timezone": UCI_TZ,
    "comment": "the file's clock is UTC+1 all year (no daylight saving): 2004-03-28 02:00 is "
    "present and no hour repeats on 2004-10-31; -200 marks missing values",
}


# ---------------------------------------------------------------- generic detectors


def stuck_flags(values: np.ndarray, min_run: int, *, floor: float | None = None) -> np.ndarray:
    """``QC.STUCK`` where a value belongs to a run of >= ``min_run`` equal consecutive values.

    ``values`` is 1-D (time,) or 2-D (time, station); runs are counted along axis 0, per column.
    NaN breaks a run and is never flagged. Runs whose value is ``<= floor`` are exempt (zero rain,
    calm wind, readings at a detection-limit floor repeat legitimately). Equality is exact, which
    suits values parsed from text at a fixed resolution. Returns uint8 of the shape of ``values``.
    """
    if min_run < 2:
        raise ValueError(f"min_run must be >= 2 (got {min_run})")
    v = np.asarray(values, dtype=float)
    v2 = v.reshape(len(v), -1)
    new_run = np.ones(v2.shape, dtype=bool)
    new_run[1:] = v2[1:] != v2[:-1]  # NaN != NaN, so NaN always starts a new run
    run_id = np.cumsum(new_run.ravel(order="F")) - 1  # column-major: each column starts a run
    length = np.bincount(run_id)[run_id].reshape(v2.shape, order="F")
    stuck = (length >= min_run) & ~np.isnan(v2)
    if floor is not None:
        stuck &= v2 > floor
    return np.where(stuck, QC.STUCK, 0).astype(np.uint8).reshape(v.shape)


def spike_flags(values: np.ndarray, *, min_jump: float, k: float = 10.0) -> np.ndarray:
    """``QC.SPIKE`` where a value jumps away from both neighbours and back.

    ``x[t]`` is a spike when ``x[t] - x[t-1]`` and ``x[t] - x[t+1]`` have the same sign and both
    exceed ``max(k * s, min_jump)`` in absolute value, where ``s = 1.4826 * MAD`` of the column's
    hour-to-hour differences (a robust standard deviation of the change, in the units of
    ``values``). ``min_jump`` keeps coarsely quantised series (MAD = 0) from flagging every step.
    The first and last samples, and samples beside a NaN, are never flagged; a two-hour excursion
    is not a spike. ``values`` is 1-D (time,) or 2-D (time, station); returns uint8 of its shape.
    """
    v = np.asarray(values, dtype=float)
    v2 = v.reshape(len(v), -1)
    diff = np.diff(v2, axis=0)
    with warnings.catch_warnings():  # all-NaN columns give NaN scale, then min_jump applies
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = 1.4826 * np.nanmedian(np.abs(diff - np.nanmedian(diff, axis=0)), axis=0)
    threshold = np.fmax(k * scale, min_jump)
    up, down = v2[1:-1] - v2[:-2], v2[1:-1] - v2[2:]
    spike = np.zeros(v2.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        spike[1:-1] = (up * down > 0) & (np.abs(up) > threshold) & (np.abs(down) > threshold)
    return np.where(spike, QC.SPIKE, 0).astype(np.uint8).reshape(v.shape)


# ---------------------------------------------------------------- public loaders


def open_beijing_multisite(path: str | Path, stations: Sequence[str] | None = None) -> xr.Dataset:
    """Beijing multi-site air quality (UCI): dims (time, station), station = station name.

    ``path`` is the folder of ``PRSA_Data_<Station>_<start>-<end>.csv[.gz]`` files or one such
    file; ``stations`` selects by name (default: all, sorted). Source times are local
    (Asia/Shanghai, UTC+8) in year/month/day/hour columns; ``time`` is UTC. Variables and QC:
    see ``BEIJING``.
    """
    files = _select(path, _BEIJING_FILE, "station", stations, "PRSA_Data_*.csv*")
    columns = [*_TIME_PARTS, "station", *(q.column for q in BEIJING)]
    frames = {}
    for key, file in files.items():
        raw = _read_csv(file, columns, BEIJING)
        label = _single_value(raw, "station", file)
        if label != key:
            raise DataError(f"{file.name}: column 'station' must be {key!r} (got {label!r})")
        frames[key] = _hourly_frame(raw, _parts_time(raw, file), CHINA_TZ, file)
    index, frames, gap = _common_time(frames, {k: f.name for k, f in files.items()})
    ds = _new_dataset(index, list(frames), files.values(), _BEIJING_ATTRS)
    for q in BEIJING:
        _add_quantity(ds, q, _stack(frames, q.column), gap)
    return ds


def open_china_5cities(path: str | Path, cities: Sequence[str] | None = None) -> xr.Dataset:
    """PM2.5 of five Chinese cities (UCI): dims (time, station).

    ``path`` is the folder of ``<City>PM<start>_<end>.csv[.gz]`` files or one such file;
    ``cities`` selects by city name (default: all, sorted). Each ``PM_<post>`` column is a station
    named ``"<City>/<post>"`` (e.g. ``"Beijing/US Post"``); a ``city`` coordinate sits on
    ``station``.
    The weather columns are per city and repeated for each of its posts. "cv" wind direction
    (calm/variable) is NaN flagged SENTINEL, as are the codes -9999 and 999990. ``Iws`` and
    ``Iprec`` are running sums since the wind direction last changed or the rain began.
    Source times are Asia/Shanghai (UTC+8); ``time`` is UTC. Variables and QC: ``FIVE_CITIES``.
    """
    files = _select(path, _FIVE_CITIES_FILE, "city", cities, "*PM*_*.csv*")
    pm, weather = FIVE_CITIES[0], FIVE_CITIES[1:]
    frames, names, city_of = {}, {}, {}
    for city, file in files.items():
        raw = _read_csv(file, [*_TIME_PARTS, *(q.column for q in weather)], weather)
        posts = [c for c in raw.columns if c.startswith(pm.column)]
        if not posts:
            raise DataError(f"{file.name}: a 'PM_<post>' column is required (got none)")
        _check_numeric(raw, posts, file)
        times = _parts_time(raw, file)
        for post in posts:
            station = f"{city}/{post.removeprefix(pm.column)}"
            frame = raw[[post, *(q.column for q in weather)]].rename(columns={post: pm.column})
            frames[station] = _hourly_frame(frame, times, CHINA_TZ, file)
            names[station], city_of[station] = file.name, city
    index, frames, gap = _common_time(frames, names)
    ds = _new_dataset(index, list(frames), files.values(), _FIVE_CITIES_ATTRS)
    ds = ds.assign_coords(city=("station", [city_of[s] for s in frames]))
    for q in FIVE_CITIES:
        _add_quantity(ds, q, _stack(frames, q.column), gap, _FIVE_CITIES_SENTINELS)
    return ds


def open_airquality_uci(path: str | Path) -> xr.Dataset:
    """AirQualityUCI (De Vito et al. 2008): dims (time,), reference analysers beside raw sensors.

    Reads both layouts in circulation: the UCI original (``;`` separated, decimal comma, times
    ``18.00.00``, columns ``CO(GT)``, trailing empty columns and rows) and the cleaned CSV
    (``,`` separated, ``CO_GT``). Dates are DD/MM/YYYY. The clock is UTC+1 all year (see
    ``UCI_TZ``); ``time`` is UTC. -200 is the documented missing code: NaN flagged SENTINEL. See
    ``AIR_QUALITY_UCI`` for names, units and ranges.
    """
    file = _existing(path)
    raw = _read_uci(file)
    _check_columns(raw, ["Date", "Time", *(q.column for q in AIR_QUALITY_UCI)], file)
    _check_numeric(raw, [q.column for q in AIR_QUALITY_UCI], file)
    text = raw["Date"].astype(str) + " " + raw["Time"].astype(str).str.replace(".", ":")
    local = pd.to_datetime(text, format="%d/%m/%Y %H:%M:%S", errors="coerce")
    _check_parsed(local, text, "Date/Time", "DD/MM/YYYY HH:MM:SS", file)
    frame = _hourly_frame(raw, local, UCI_TZ, file)
    frame, gap = regular_time(frame, "1h", where=file.name)
    ds = _new_dataset(frame.index, None, [file], _UCI_ATTRS)
    for q in AIR_QUALITY_UCI:
        _add_quantity(ds, q, frame[q.column].to_numpy(dtype=float), gap, _UCI_SENTINELS)
    return ds


# ---------------------------------------------------------------- files and columns


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return path


def _select(
    path: str | Path, pattern: re.Pattern, group: str, wanted: Sequence[str] | None, glob: str
) -> dict[str, Path]:
    """Files of a folder (or the one file), keyed by the ``group`` parsed from the file name."""
    path = _existing(path)
    candidates = sorted(path.glob(glob)) if path.is_dir() else [path]
    found = {}
    for file in candidates:
        match = pattern.match(file.name)
        if match is None:
            raise DataError(f"{file}: file name must match {pattern.pattern}")
        if match[group] in found:
            raise DataError(f"{file}: {group} {match[group]!r} must have one file (got two)")
        found[match[group]] = file
    if not found:
        raise DataError(f"{path}: no file matching {glob}")
    if wanted is None:
        return found
    unknown = [w for w in wanted if w not in found]
    if unknown:
        raise DataError(f"{path}: {group} {unknown[0]!r} must be one of {sorted(found)}")
    return {w: found[w] for w in wanted}


def _read_csv(file: Path, columns: Sequence[str], quantities: Sequence[Quantity]) -> pd.DataFrame:
    """Read a comma-separated file, check the columns exist and hold numbers or compass points."""
    raw = _parse_csv(file)
    _check_columns(raw, columns, file)
    _check_numeric(raw, [*_TIME_PARTS, *(q.column for q in quantities if not q.compass)], file)
    for q in quantities:
        if q.compass:
            _check_compass(raw, q.column, file)
    return raw


def _parse_csv(file: Path, **options) -> pd.DataFrame:
    try:
        raw = pd.read_csv(file, **options)
    except (ValueError, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"{file.name}: cannot be read as CSV ({exc})") from None
    if raw.empty:
        raise DataError(f"{file.name}: must have data rows (got none)")
    return raw


def _read_uci(file: Path) -> pd.DataFrame:
    """Both AirQualityUCI layouts, normalised to the cleaned one (``CO_GT``, ``HH:MM:SS``)."""
    with open(file, encoding="utf-8", errors="replace") as handle:
        original = ";" in handle.readline()
    if not original:
        return _parse_csv(file)
    raw = _parse_csv(file, sep=";", decimal=",")
    raw = raw.dropna(axis="columns", how="all").dropna(axis="index", how="all")
    return raw.rename(columns=lambda c: re.sub(r"[().]+", "_", c).strip("_"))


def _check_columns(raw: pd.DataFrame, columns: Sequence[str], file: Path) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        got = list(raw.columns)
        raise DataError(f"{file.name}: column {missing[0]!r} is required (got {got})")


def _check_numeric(raw: pd.DataFrame, columns: Sequence[str], file: Path) -> None:
    for column in columns:
        values = raw[column]
        if pd.api.types.is_numeric_dtype(values):
            continue
        bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{file.name}: column {column!r} must be numeric "
            f"(got {values.iloc[row]!r} in line {row + 2})"
        )


def _check_compass(raw: pd.DataFrame, column: str, file: Path) -> None:
    values = raw[column]
    bad = values.notna() & ~values.isin([*_COMPASS, _CALM])
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{file.name}: column {column!r} must be a 16-point compass direction or {_CALM!r} "
            f"(got {values.iloc[row]!r} in line {row + 2})"
        )


def _single_value(raw: pd.DataFrame, column: str, file: Path) -> str:
    values = raw[column].dropna().unique()
    if len(values) != 1:
        got = list(values)[:3]
        raise DataError(f"{file.name}: column {column!r} must hold one value (got {got})")
    return str(values[0])


def _check_parsed(
    parsed: pd.Series, text: pd.Series, column: str, expected: str, file: Path
) -> None:
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{file.name}: column {column!r} must be {expected} "
            f"(got {text.iloc[row]!r} in line {row + 2})"
        )


# ---------------------------------------------------------------- time


def _parts_time(raw: pd.DataFrame, file: Path) -> pd.Series:
    """Local wall-clock times from the year, month, day and hour columns."""
    local = pd.to_datetime(raw[_TIME_PARTS], errors="coerce")
    if local.isna().any():
        text = raw[_TIME_PARTS].astype(str).agg("-".join, axis=1)
        _check_parsed(local, text, "year/month/day/hour", "a valid date and hour", file)
    return local


def _hourly_frame(raw: pd.DataFrame, local: pd.Series, tz: str, file: Path) -> pd.DataFrame:
    """``raw`` indexed by UTC time converted from local wall-clock times in ``tz``."""
    frame = raw.copy()
    frame.index = to_utc(pd.DatetimeIndex(local), tz, where=file.name)
    return frame


def _common_time(
    frames: Mapping[str, pd.DataFrame], where: Mapping[str, str]
) -> tuple[pd.DatetimeIndex, dict[str, pd.DataFrame], np.ndarray]:
    """Put every frame on one regular hourly UTC index; returns it, the frames, GAP (time, key)."""
    regular, gaps = {}, {}
    for key, frame in frames.items():
        regular[key], gap = regular_time(frame, "1h", where=where[key])
        gaps[key] = pd.Series(gap, index=regular[key].index)
    start = min(f.index[0] for f in regular.values())
    end = max(f.index[-1] for f in regular.values())
    index = pd.date_range(start, end, freq="1h")
    gap = np.column_stack([g.reindex(index, fill_value=True).to_numpy() for g in gaps.values()])
    return index, {k: f.reindex(index) for k, f in regular.items()}, gap


def _stack(frames: Mapping[str, pd.DataFrame], column: str) -> np.ndarray:
    """One column of every frame as a (time, key) array."""
    return np.column_stack([frame[column].to_numpy() for frame in frames.values()])


# ---------------------------------------------------------------- QC and assembly


def _new_dataset(
    index: pd.DatetimeIndex,
    stations: list[str] | None,
    files: Iterable[Path],
    attrs: Mapping[str, str],
) -> xr.Dataset:
    coords = {"time": ("time", index.values, {"timezone": "UTC"})}
    if stations is not None:
        coords["station"] = ("station", stations)
    ds = xr.Dataset(coords=coords, attrs=dict(attrs))
    ds.attrs["source"] = ", ".join(Path(f).name for f in files)
    return ds


def _add_quantity(
    ds: xr.Dataset, q: Quantity, raw: np.ndarray, gap: np.ndarray, sentinels: Sequence[float] = ()
) -> None:
    """QC one raw (time[, station]) array by the rules of ``q`` and add it to ``ds``."""
    gap = gap.reshape(raw.shape)
    if q.compass:
        values, sentinel = _compass_degrees(raw)
    else:
        values = raw.astype(float)
        sentinel = np.isin(values, sentinels)
    values[sentinel] = np.nan
    flags = range_flags(values, q.low, q.high)
    values[(flags & QC.OUT_OF_RANGE) != 0] = np.nan
    flags[sentinel] = QC.SENTINEL
    flags[gap] = QC.GAP
    if q.stuck_hours is not None:
        flags |= stuck_flags(values, q.stuck_hours, floor=q.stuck_floor)
    if q.spike_jump is not None:
        flags |= spike_flags(values, min_jump=q.spike_jump)
    dims = ("time", "station")[: values.ndim]
    data = xr.DataArray(values, dims=dims, coords={d: ds[d] for d in dims})
    add_series(ds, q.name, data, flags, series_attrs(q.units, q.long_name, q.rule))


def _compass_degrees(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compass points to degrees from north (clockwise); the calm code is returned as a mask."""
    points = pd.Series(raw.ravel())
    degrees = points.map(_COMPASS).to_numpy(dtype=float).reshape(raw.shape)
    return degrees, (points == _CALM).to_numpy().reshape(raw.shape)
