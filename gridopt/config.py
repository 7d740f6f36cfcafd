"""Model files: one TOML file describes one study (network, window, data, assets, policy, solver).

``load_model(path)`` parses and validates a file and returns a frozen :class:`ModelConfig`. Any
problem is one :class:`~gridopt.errors.ConfigError` line naming the file, the key path, the value
and what was expected, e.g.::

    models/default.toml: time.hours must be greater than 0 (got -5)
    models/default.toml: assets.battery[0].e_mwh_max: unknown key (expected one of: name, bus, ...)

Units are in every key name. Times in the file are ISO 8601; a time without an offset is UTC.
Data paths resolve against the data folder (``--data-dir`` / ``GRIDOPT_DATA_DIR``) when they
exist there, else against the model file's folder.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import zoneinfo
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from gridopt.errors import ConfigError

__all__ = [
    "ModelConfig",
    "load_model",
    "resolve_data_dir",
    "builtin_model_path",
    "builtin_models",
    "DEFAULT_MODEL",
    "with_window",
    "describe_error",
    "read_toml",
    "TimeZoneName",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"
DEFAULT_MODEL = "default"

NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


def _known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name such as 'Europe/Berlin'") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]  # e.g. "Europe/Berlin"; checked
Fraction = Annotated[float, Field(ge=0, le=1)]
Efficiency = Annotated[float, Field(gt=0, le=1)]
HourOfDay = Annotated[int, Field(ge=0, le=24)]
Time = Annotated[datetime, Strict(False)]  # a TOML datetime, or an ISO 8601 string


class _Strict(BaseModel):
    """Every section forbids unknown keys, nan and inf (TOML allows both) and values of another
    TOML type (``p_mw = "5"``, ``cyclic = 1``; an integer is a valid float), and is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class NetworkSection(_Strict):
    source: str = Field(description="pandapower:<name>, simbench:<code>, or a .json/.m/.mat path")
    formulation: Literal["auto", "dc", "lindistflow"] = "auto"
    # Per-bus voltage limits [min, max] in pu replacing the network's own (min_vm_pu, max_vm_pu),
    # keyed by bus index or name: for the odd bus whose limits a data set got wrong.
    vm_limits_pu: dict[str, Annotated[list[Positive], Field(min_length=2, max_length=2)]] = {}

    @field_validator("vm_limits_pu")
    @classmethod
    def _ordered(cls, limits: dict[str, list[float]]) -> dict[str, list[float]]:
        for bus, (low, high) in limits.items():
            if low >= high:
                raise ValueError(f"bus {bus}: min must be below max (got [{low}, {high}])")
        return limits


class TimeSection(_Strict):
    start: Time
    end: Time | None = None
    hours: Annotated[int, Field(gt=0)] | None = None
    step: Literal["15min", "1h"] = "1h"

    @model_validator(mode="after")
    def _one_of_end_or_hours(self) -> TimeSection:
        if (self.end is None) == (self.hours is None):
            raise ValueError("give exactly one of 'end' or 'hours'")
        if self.end is not None and _utc(self.end) <= _utc(self.start):
            raise ValueError(f"'end' must be after 'start' (got {self.end} <= {self.start})")
        return self

    @property
    def start_utc(self) -> datetime:
        """Window start, naive UTC."""
        return _utc(self.start)

    @property
    def end_utc(self) -> datetime:
        """Window end (exclusive), naive UTC."""
        if self.end is not None:
            return _utc(self.end)
        return self.start_utc + timedelta(hours=self.hours)


class SeriesSection(_Strict):
    """One data source. ``loader`` names an entry of ``gridopt.sources.LOADERS``."""

    loader: str
    path: str | None = None
    stations: list[str] | None = None
    shift_to_year: int | None = Field(
        None, description="relabel the data's timestamps to this year, shifted by whole weeks"
    )
    region: str | None = None
    factor_set: Literal["lifecycle", "direct"] = Field(
        "lifecycle", description="emission factors of generation by fuel (eia930 loader)"
    )
    year: int | None = None
    buses: list[int] | None = None
    sessions_per_day: NonNegative | None = None
    p_max_kw: Positive | None = None
    seed: int = 0
    scale: Positive = 1.0


class GridSection(_Strict):
    """The external grid: energy price (time-of-use in local time) and exchange limits."""

    currency: str = "EUR"
    price_per_mwh: float = 60.0
    peak_price_per_mwh: float | None = None
    peak_hours_local: Annotated[tuple[HourOfDay, HourOfDay], Strict(False)] = (17, 21)
    timezone: TimeZoneName = "UTC"
    import_max_mw: Positive | None = None
    export_max_mw: NonNegative | None = None

    @model_validator(mode="after")
    def _peak_window(self) -> GridSection:
        start, end = self.peak_hours_local
        if not start < end:
            raise ValueError(
                "peak_hours_local must be [start, end) local hours with start < end "
                f"(got [{start}, {end}])"
            )
        return self


class RenewableAsset(_Strict):
    name: str
    bus: Annotated[int, Field(ge=0)]
    p_mw: Positive
    profile: str = Field(description="series variable with availability in pu (0..1)")


class BatteryAsset(_Strict):
    name: str
    bus: Annotated[int, Field(ge=0)]
    p_mw: Positive
    e_mwh: Positive
    eta_charge: Efficiency = 0.95
    eta_discharge: Efficiency = 0.95
    soc_min: Fraction = 0.1
    soc_max: Fraction = 0.9
    soc_initial: Fraction = 0.5
    standing_loss_per_h: Fraction = 0.0
    cyclic: bool = True
    degradation_cost_per_mwh: NonNegative = 0.0

    @model_validator(mode="after")
    def _soc_bounds(self) -> BatteryAsset:
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError(
                "soc_min <= soc_initial <= soc_max must hold "
                f"(got {self.soc_min} <= {self.soc_initial} <= {self.soc_max})"
            )
        return self


class ThermalAsset(_Strict):
    name: str
    bus: Annotated[int, Field(ge=0)]
    p_min_mw: NonNegative = 0.0
    p_max_mw: Positive
    ramp_mw_per_h: Positive | None = None
    cost_per_mwh: NonNegative
    co2_t_per_mwh: NonNegative
    nox_t_per_mwh: NonNegative = 0.0
    so2_t_per_mwh: NonNegative = 0.0
    pm25_t_per_mwh: NonNegative = 0.0

    @model_validator(mode="after")
    def _min_below_max(self) -> ThermalAsset:
        if self.p_min_mw > self.p_max_mw:
            raise ValueError(f"p_min_mw must be <= p_max_mw (got {self.p_min_mw} > {self.p_max_mw})")
        return self


class EvSection(_Strict):
    """EV charging: sessions come from a series entry whose loader yields sessions."""

    sessions: str = Field(description="name of the [series.*] entry that yields EV sessions")
    v2g: bool = False
    formulation: Literal["auto", "sessions", "aggregate"] = "auto"


class Assets(_Strict):
    pv: list[RenewableAsset] = []
    wind: list[RenewableAsset] = []
    battery: list[BatteryAsset] = []
    thermal: list[ThermalAsset] = []
    ev: EvSection | None = None


AqPollutant = Literal["nox", "so2", "pm25"]
BusRef = Annotated[int, Field(ge=0)] | str  # a pandapower bus index, or a bus name


class AirQualityZone(_Strict):
    """Part of the network policed on the AQI of its own stations: the thermal units at its
    ``buses`` (indices or names); ``cap_kg_per_h`` overrides the policy's per pollutant."""

    stations: Annotated[list[str], Field(min_length=1)]
    buses: Annotated[list[BusRef], Field(min_length=1)]
    cap_kg_per_h: dict[AqPollutant, NonNegative] = {}


class AirQualityPolicy(_Strict):
    """In episode hours (AQI of the stations >= threshold) local units' pollutant damage costs
    × ``factor`` (``price``) or their summed emissions <= ``cap_kg_per_h`` (``cap``). Without
    ``zones`` the whole model is one zone (``stations``, empty: all); with them, only units at a
    zone's buses are policed, each on its own stations (see ``gridopt.aq_policy``)."""

    mode: Literal["off", "price", "cap"] = "off"
    standard: Literal["epa", "china"] = "china"
    threshold_aqi: Positive = 200
    factor: Positive = 5.0
    stations: list[str] = []
    cap_kg_per_h: dict[AqPollutant, NonNegative] = {}
    zones: dict[str, AirQualityZone] = {}

    @model_validator(mode="after")
    def _zones_and_caps(self) -> AirQualityPolicy:
        if self.zones and self.stations:
            raise ValueError("give stations per zone (zones.<name>.stations) or for the whole model, not both")
        for name in self.zones:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"zone names must be letters, digits and '_' (got {name!r})")
        if self.mode == "cap":
            uncapped = [n for n, z in self.zones.items() if not {**self.cap_kg_per_h, **z.cap_kg_per_h}]
            if uncapped or (not self.zones and not self.cap_kg_per_h):
                where = f" for zone {uncapped[0]!r}" if uncapped else ""
                raise ValueError(f"mode 'cap' needs cap_kg_per_h{where} (e.g. {{nox = 5.0}})")
        return self


class Policy(_Strict):
    carbon_price_per_t: NonNegative = 0.0
    co2_signal: Literal["marginal", "average"] = "marginal"
    co2_cap_t: Positive | None = None
    damage_cost_per_t: dict[Literal["nox", "so2", "pm25"], NonNegative] = {}
    curtailment_cost_per_mwh: NonNegative = 0.0
    air_quality: AirQualityPolicy = AirQualityPolicy()


class Solver(_Strict):
    """HiGHS settings. ``highs_options`` are passed to HiGHS as they are (names as in HiGHS's
    documentation, e.g. ``simplex_strategy = 4``); a run stopped at a limit keeps HiGHS's feasible
    point, if it has one, with status ``time_limit``."""

    time_limit_s: Positive = 600.0
    threads: Annotated[int, Field(ge=1)] | None = None
    highs_options: dict[str, bool | int | float | str] = {}


class ModelConfig(_Strict):
    """A validated model file. ``path`` is where it was read from; ``data_dir`` the data folder."""

    name: str
    description: str = ""
    network: NetworkSection
    time: TimeSection
    series: dict[str, SeriesSection] = {}
    grid: GridSection = GridSection()
    assets: Assets = Assets()
    policy: Policy = Policy()
    solver: Solver = Solver()
    path: Path | None = None
    data_dir: Path | None = None

    @model_validator(mode="after")
    def _references(self) -> ModelConfig:
        if self.assets.ev is not None and self.assets.ev.sessions not in self.series:
            raise ValueError(
                f"assets.ev.sessions must name a [series.*] entry (got {self.assets.ev.sessions!r}; "
                f"have {sorted(self.series)})"
            )
        return self

    def resolve(self, relpath: str) -> Path:
        """A data path: the data folder first, then the model file's folder."""
        candidates = [self.data_dir / relpath] if self.data_dir else []
        if self.path is not None:
            candidates.append(self.path.parent / relpath)
        for candidate in candidates:
            if candidate.exists():
                return candidate
        tried = ", ".join(str(c) for c in candidates) or relpath
        raise ConfigError(
            f"{self.path}: data file {relpath!r} not found (looked in {tried}; "
            "set --data-dir or GRIDOPT_DATA_DIR, see `gridopt data list`)"
        )


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def builtin_models() -> list[str]:
    """Names of the models shipped in ``models/``."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.toml"))


def builtin_model_path(name: str) -> Path:
    """The file of a shipped model."""
    return MODELS_DIR / f"{name}.toml"


def resolve_data_dir(explicit: str | Path | None = None) -> Path | None:
    """The public-data folder: ``explicit``, else ``$GRIDOPT_DATA_DIR``, else None."""
    value = explicit or os.environ.get("GRIDOPT_DATA_DIR")
    return Path(value).expanduser().resolve() if value else None


def load_model(model: str | Path | None = None, data_dir: str | Path | None = None) -> ModelConfig:
    """Read and validate a model file: a path, or the name of a shipped model (default: 'default')."""
    path = _model_path(model)
    raw = read_toml(path, "model file")
    raw.setdefault("name", path.stem)
    try:
        return ModelConfig(**raw, path=path.resolve(), data_dir=resolve_data_dir(data_dir))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_error(exc)}") from None
    except TypeError as exc:  # a key shadowing path/data_dir given twice
        raise ConfigError(f"{path}: {exc}") from None


def read_toml(path: Path, what: str) -> dict:
    """The table of a TOML file; any problem is one ``ConfigError`` line naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: a {what} must be UTF-8 text (got byte {exc.object[exc.start]:#04x} "
                          f"at offset {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from None


def with_window(config: ModelConfig, start: str | None, hours: int | None) -> ModelConfig:
    """The model with its window moved or resized (``--start``/``--hours``), validated again."""
    if start is None and hours is None:
        return config
    time = config.time.model_dump()
    if start is not None:
        time["start"] = start
    if hours is not None:
        time.update(hours=hours, end=None)
    elif time["end"] is not None and start is not None:
        time.update(hours=int((config.time.end_utc - config.time.start_utc).total_seconds() // 3600), end=None)
    try:
        return config.model_copy(update={"time": TimeSection(**time)})
    except ValidationError as exc:
        raise ConfigError(f"{config.path}: --start/--hours: {describe_error(exc)}") from None


def _model_path(model: str | Path | None) -> Path:
    if model is None:
        model = DEFAULT_MODEL
    path = Path(model)
    if path.suffix != ".toml" and not path.exists():
        shipped = builtin_model_path(str(model))
        if shipped.exists():
            return shipped
        raise ConfigError(
            f"model {str(model)!r} is neither a file nor a shipped model "
            f"(shipped: {', '.join(builtin_models())})"
        )
    if not path.exists():
        raise ConfigError(f"{path}: model file not found")
    return path


def describe_error(exc: ValidationError) -> str:
    """One validation error as one line: key path, what was expected, the value.

    An unknown key is reported before anything else: next to a missing required key it is
    almost always that key misspelt.
    """
    errors = exc.errors(include_url=False)
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        return f"{_key_path(loc)}: unknown key ({_suggest(loc)})"
    if err["type"] == "missing":
        return f"{_key_path(loc)}: required key is missing"
    if loc and loc[-1] == "[key]":  # a dict key outside its allowed set
        return f"{_key_path(loc[:-1])}: unknown key ({_plain(err, loc[:-1])})"
    message = _plain(err, loc)
    if isinstance(got, dict):  # model-level validators: the message carries the values
        return f"{_key_path(loc) or 'model'}: {message}"
    return f"{_key_path(loc)}: {message} (got {got!r})"


def _plain(err: dict, loc: tuple[Any, ...]) -> str:
    """Pydantic's message in the words of a model file: units for numbers, ISO 8601 for times."""
    kind, got = err["type"], err.get("input")
    if kind.startswith(("float_", "int_")):
        if kind.startswith("int_") and isinstance(got, float):
            return "must be a whole number"
        noun = "a whole number" if kind.startswith("int_") else "a number"
        unit = _unit_of(str(loc[-1])) if loc else ""
        written = ", written without a unit" if isinstance(got, str) else ""
        return f"must be {noun}{unit}{written}"
    if kind == "bool_type":
        return "must be true or false"
    if kind == "string_type":
        return "must be a string (in quotes)"
    if kind.startswith("datetime"):
        return "must be an ISO 8601 time such as '2021-06-07T00:00:00Z'"
    return err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")


_UNIT_WORDS = {"mw": "MW", "mwh": "MWh", "kw": "kW", "mvar": "Mvar", "t": "t", "s": "s", "h": "h"}


def _unit_of(key: str) -> str:
    """' in MW' for 'p_mw', ' in t/MWh' for 'co2_t_per_mwh', ' per MWh' for 'cost_per_mwh'."""
    parts = key.split("_")
    if "per" in parts[:-1]:
        i = parts.index("per")
        den = _UNIT_WORDS.get(parts[i + 1], parts[i + 1])
        num = _UNIT_WORDS.get(parts[i - 1]) if i else None
        return f" in {num}/{den}" if num else f" per {den}"
    unit = _UNIT_WORDS.get(parts[-1])
    return f" in {unit}" if unit and len(parts) > 1 else ""


def _key_path(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _suggest(loc: tuple[Any, ...]) -> str:
    """'did you mean 'e_mwh'? expected one of: ...' for an unknown key at ``loc``."""
    allowed = _allowed_keys(loc)
    near = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"{hint}expected one of: {', '.join(allowed)}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the section holding ``loc[-1]`` accepts."""
    cls: Any = ModelConfig
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = cls.model_fields.get(str(item))
        if field is None:
            break
        cls = _section_class(field.annotation)
        if cls is None:
            return []
    return [k for k in cls.model_fields if k not in ("path", "data_dir")]


def _section_class(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X``, ``list[X]``, ``dict[str, X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _section_class(arg)
        if found is not None:
            return found
    return None
