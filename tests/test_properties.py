"""Properties of the input loaders (hypothesis): the model-file loader and the generic CSV loader.

- A random valid model file loads, and every value written comes back unchanged.
- A random value put at any key of a valid model either loads or is one ConfigError line naming
  the file; a value that is invalid by construction (negative, nan, a unit in a number, a wrong
  TOML type) is always a ConfigError naming the key. No other exception ever escapes.
- Random bytes as a model file are a ConfigError.
- A CSV series with random gaps, empty cells, no-data codes, out-of-range values, repeated
  timestamps and text cells gives either a dataset whose QC flags count exactly the problems put
  in, with every other value unchanged, or a DataError naming the file and the line.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridopt.config import load_model
from gridopt.errors import ConfigError, DataError
from gridopt.io.generic import ColumnSpec, open_csv_series
from gridopt.io.series import QC, qc_summary

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- a small TOML writer


def to_toml(doc: dict, path: tuple[str, ...] = ()) -> str:
    """TOML text of ``doc``: scalars first, then sub-tables and arrays of tables."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not _is_table(v)]
    for k, v in doc.items():
        where = ".".join(_key(p) for p in (*path, k))
        if isinstance(v, dict):
            lines += [f"[{where}]", to_toml(v, (*path, k))]
        elif _is_table(v):
            for item in v:
                lines += [f"[[{where}]]", to_toml(item, (*path, k))]
    return "\n".join(lines) + "\n"


def _is_table(v) -> bool:
    return isinstance(v, dict) or (isinstance(v, list) and bool(v) and isinstance(v[0], dict))


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)  # 'nan', 'inf', '-inf' are TOML too
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, int):
        return str(v)
    return json.dumps(v, ensure_ascii=False)  # TOML has no surrogate-pair escapes


# ---------------------------------------------------------------- valid models

positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False)
non_negative = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)
fraction = st.floats(min_value=0.0, max_value=1.0)
efficiency = st.floats(min_value=0.05, max_value=1.0)
ZONES = ["UTC", "Europe/Berlin", "Asia/Shanghai", "America/Los_Angeles", "Etc/GMT-1"]


@st.composite
def batteries(draw) -> dict:
    lo, mid, hi = sorted(draw(st.lists(fraction, min_size=3, max_size=3)))
    return {
        "name": draw(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12)),
        "bus": draw(st.integers(0, 8)),
        "p_mw": draw(positive),
        "e_mwh": draw(positive),
        "eta_charge": draw(efficiency),
        "soc_min": lo, "soc_initial": mid, "soc_max": hi,
        "cyclic": draw(st.booleans()),
    }


@st.composite
def thermals(draw) -> dict:
    p_min, p_max = sorted([draw(non_negative), draw(positive)])
    return {"name": "g", "bus": draw(st.integers(0, 8)), "p_min_mw": p_min,
            "p_max_mw": max(p_max, 1e-3), "cost_per_mwh": draw(non_negative),
            "co2_t_per_mwh": draw(non_negative)}


@st.composite
def models(draw) -> dict:
    start = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
    start = start.replace(microsecond=0, tzinfo=timezone.utc)
    time = {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "step": draw(st.sampled_from(["1h", "15min"]))}
    if draw(st.booleans()):
        time["hours"] = draw(st.integers(1, 10_000))
    else:
        time["end"] = (start + timedelta(minutes=draw(st.integers(1, 10**6)))).isoformat()
    lo, hi = sorted(draw(st.lists(st.integers(0, 24), min_size=2, max_size=2, unique=True)))
    return {
        "name": draw(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)),
        "network": {"source": "pandapower:case9",
                    "formulation": draw(st.sampled_from(["auto", "dc", "lindistflow"]))},
        "time": time,
        "grid": {"price_per_mwh": draw(st.floats(-500, 5000)), "peak_hours_local": [lo, hi],
                 "timezone": draw(st.sampled_from(ZONES))},
        "assets": {"battery": draw(st.lists(batteries(), max_size=3)),
                   "thermal": draw(st.lists(thermals(), max_size=2))},
        "policy": {"carbon_price_per_t": draw(non_negative),
                   "co2_signal": draw(st.sampled_from(["marginal", "average"])),
                   "damage_cost_per_t": draw(st.dictionaries(st.sampled_from(["nox", "so2", "pm25"]),
                                                             non_negative, max_size=3))},
        "solver": {"time_limit_s": draw(positive), "threads": draw(st.integers(1, 64))},
    }


def write_model(tmp_path, doc: dict):
    path = tmp_path / "m.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    return path


def same(loaded, written) -> bool:
    """Whether a loaded value equals what was written (times compared as instants)."""
    if isinstance(written, dict):
        return all(same(loaded[k], v) for k, v in written.items())
    if isinstance(written, list):
        return len(loaded) == len(written) and all(same(a, b) for a, b in zip(loaded, written))
    if isinstance(loaded, datetime):
        return loaded == datetime.fromisoformat(written.replace("Z", "+00:00"))
    return loaded == written


@SETTINGS
@given(doc=models())
def test_random_valid_models_round_trip(doc, tmp_path):
    config = load_model(write_model(tmp_path, doc))
    assert same(config.model_dump(), doc)
    assert config.time.end_utc > config.time.start_utc


# ---------------------------------------------------------------- invalid values


def leaf_paths(doc, prefix=()):
    """(path, value) of every scalar in ``doc``; list items by index."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from leaf_paths(v, (*prefix, k))
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict):
        for i, v in enumerate(doc):
            yield from leaf_paths(v, (*prefix, i))
    else:
        yield prefix, doc


def put(doc, path, value):
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out


junk = st.one_of(
    st.text(max_size=12),
    st.floats(),  # nan and ±inf included
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.integers(), max_size=2),
)


@SETTINGS
@given(doc=models(), data=st.data())
def test_any_value_at_any_key_loads_or_is_one_config_error_line(doc, data, tmp_path):
    path, _ = data.draw(st.sampled_from(list(leaf_paths(doc))))
    put(doc, path, data.draw(junk))
    model = write_model(tmp_path, doc)
    try:
        load_model(model)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(f"{model}: ") and "\n" not in message


POSITIVE_KEYS = [("time", "hours"), ("solver", "time_limit_s"), ("solver", "threads")]
bad_positive = st.one_of(
    st.floats(max_value=0.0),  # zero, negative, -inf, nan
    st.just(math.inf),
    st.floats(1, 100).map(lambda x: f"{x:g} kW"),
    st.floats(1, 100).map(lambda x: f"{x:g}"),  # a number in quotes
    st.booleans(),
    st.lists(st.integers(1, 5), min_size=1, max_size=2),
)


@SETTINGS
@given(doc=models(), key=st.sampled_from(POSITIVE_KEYS), value=bad_positive)
def test_invalid_positive_numbers_are_config_errors_naming_the_key(doc, key, value, tmp_path):
    doc["time"].pop("end", None)
    doc["time"]["hours"] = 24
    put(doc, key, value)
    with pytest.raises(ConfigError) as caught:
        load_model(write_model(tmp_path, doc))
    assert f": {key_path(key)}: " in str(caught.value)


@SETTINGS
@given(doc=models().filter(lambda d: d["assets"]["battery"]), data=st.data())
def test_invalid_battery_values_name_the_battery_and_key(doc, data, tmp_path):
    i = data.draw(st.integers(0, len(doc["assets"]["battery"]) - 1))
    key = data.draw(st.sampled_from(["p_mw", "e_mwh", "soc_max", "eta_charge"]))
    value = data.draw(st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0001),
                                st.just(math.nan), st.just("1 MW")))
    if key in ("p_mw", "e_mwh") and isinstance(value, float) and value > 1:
        value = -value  # > 1 is a valid power or energy
    put(doc, ("assets", "battery", i, key), value)
    with pytest.raises(ConfigError) as caught:
        load_model(write_model(tmp_path, doc))
    message = str(caught.value)
    assert f"assets.battery[{i}]" in message and "\n" not in message


@SETTINGS
@given(content=st.binary(max_size=200))
def test_random_bytes_are_a_config_error(content, tmp_path):
    path = tmp_path / "junk.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_model(path)
    assert str(caught.value).startswith(f"{path}: ")


# ---------------------------------------------------------------- CSV series

SPEC = {"value": ColumnSpec("load_p_mw", "MW", "load", valid_range=(0.0, 100.0), sentinels=(-99.0,))}
N_ROWS = 48


@st.composite
def damaged_series(draw) -> dict:
    """An hourly series of 48 rows with each kind of damage on its own random rows."""
    values = draw(st.lists(st.integers(0, 10_000).map(lambda x: x / 100), min_size=N_ROWS,
                           max_size=N_ROWS))
    rows = list(range(1, N_ROWS - 1))  # first and last rows stay, so the span is known
    kinds = draw(st.lists(st.sampled_from(["gap", "empty", "sentinel", "range", "ok"]),
                          min_size=len(rows), max_size=len(rows)))
    damage = {row: kind for row, kind in zip(rows, kinds) if kind != "ok"}
    duplicate = draw(st.none() | st.sampled_from(rows))
    text = draw(st.none() | st.sampled_from(rows))
    return {"values": values, "damage": damage, "duplicate": duplicate, "text": text}


def write_series(path, case) -> list[int]:
    """Write the CSV; returns the file line of each written row (the header is line 1)."""
    times = pd.date_range("2021-03-27 20:00", periods=N_ROWS, freq="h")
    cells = {"empty": "", "sentinel": "-99", "range": "150.5"}
    out, index = ["time,value"], []
    for i, (t, v) in enumerate(zip(times, case["values"])):
        kind = case["damage"].get(i)
        if kind == "gap":
            continue
        cell = "abc" if i == case["text"] else cells.get(kind, f"{v}")
        out.append(f"{t:%Y-%m-%dT%H:%M}Z,{cell}")
        index.append(i)
        if i == case["duplicate"]:
            out.append(f"{t:%Y-%m-%dT%H:%M}Z,{cell}")
            index.append(i)
    path.write_text("\n".join(out) + "\n")
    return index


@SETTINGS
@given(case=damaged_series())
def test_csv_flags_count_exactly_the_damage_or_name_the_line(case, tmp_path):
    path = tmp_path / "series.csv"
    written = write_series(path, case)
    try:
        ds = open_csv_series(path, time_column="time", columns=SPEC, timezone="UTC", step="1h")
    except DataError as exc:
        message = str(exc)
        assert message.startswith("series.csv: ") and "\n" not in message
        kept = lambda i: case["damage"].get(i) != "gap"  # noqa: E731
        if case["duplicate"] is not None and kept(case["duplicate"]):
            line = written.index(case["duplicate"]) + 2
            assert "must be unique" in message and f"line {line} and" in message
        else:
            assert case["text"] is not None and kept(case["text"])
            assert f"must be numeric (got 'abc' on line {written.index(case['text']) + 2})" in message
        return
    text_row = case["text"] if case["damage"].get(case["text"]) != "gap" else None
    assert text_row is None and (case["duplicate"] is None or case["damage"].get(case["duplicate"]) == "gap")
    kinds = list(case["damage"].values())
    expected = {"gap": kinds.count("gap"), "missing": kinds.count("empty"),
                "sentinel": kinds.count("sentinel"), "out_of_range": kinds.count("range")}
    assert qc_summary(ds, "load_p_mw") == {k: v for k, v in expected.items() if v}
    values = ds["load_p_mw"].values
    assert ds.sizes["time"] == N_ROWS
    for i, v in enumerate(case["values"]):
        assert np.isnan(values[i]) if i in case["damage"] else values[i] == v
    flags = ds["load_p_mw_qc"].values
    assert all(bool(flags[i]) == (i in case["damage"]) for i in range(N_ROWS))
    assert all(flags[i] == QC.GAP for i, kind in case["damage"].items() if kind == "gap")
