"""Model-file validation: every error is one line naming file, key path, value and expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gridopt.config import builtin_models, load_model
from gridopt.errors import ConfigError, InputError

MINIMAL = """
name = "t"
[network]
source = "pandapower:case9"
[time]
start = "2016-06-06T00:00:00Z"
hours = 24
"""


def write(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path, data_dir: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_model(path, data_dir)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_minimal_model_loads_with_defaults(tmp_path):
    config = load_model(write(tmp_path, MINIMAL))
    assert config.time.step == "1h"
    assert config.time.end_utc.isoformat() == "2016-06-07T00:00:00"
    assert config.policy.co2_signal == "marginal"
    assert config.network.formulation == "auto"


def test_offset_times_become_utc(tmp_path):
    text = MINIMAL.replace('"2016-06-06T00:00:00Z"', '"2016-06-06T02:00:00+02:00"')
    config = load_model(write(tmp_path, text))
    assert config.time.start_utc.isoformat() == "2016-06-06T00:00:00"


def test_unknown_key_names_path_and_allowed_keys(tmp_path):
    message = error_of(write(tmp_path, MINIMAL + "[solver]\ntime_limit = 5\n"))
    assert "solver.time_limit: unknown key" in message
    assert "time_limit_s" in message


def test_unknown_key_in_list_item(tmp_path):
    text = MINIMAL + '[[assets.battery]]\nname="b"\nbus=1\np_mw=1\ne_mwh=2\ncapacity=3\n'
    message = error_of(write(tmp_path, text))
    assert "assets.battery[0].capacity: unknown key" in message
    assert "eta_charge" in message


def test_wrong_type(tmp_path):
    message = error_of(write(tmp_path, MINIMAL.replace("hours = 24", 'hours = "a day"')))
    assert "time.hours" in message and "'a day'" in message


def test_negative_capacity(tmp_path):
    text = MINIMAL + '[[assets.battery]]\nname="b"\nbus=1\np_mw=-1\ne_mwh=2\n'
    message = error_of(write(tmp_path, text))
    assert "assets.battery[0].p_mw" in message
    assert "greater than 0" in message and "(got -1)" in message


def test_impossible_soc_bounds(tmp_path):
    text = MINIMAL + '[[assets.battery]]\nname="b"\nbus=1\np_mw=1\ne_mwh=2\nsoc_min=0.6\nsoc_max=0.4\n'
    message = error_of(write(tmp_path, text))
    assert "assets.battery[0]" in message and "soc_min <= soc_initial <= soc_max" in message


def test_end_and_hours_are_exclusive(tmp_path):
    text = MINIMAL.replace("hours = 24", 'hours = 24\nend = "2016-06-08T00:00:00Z"')
    assert "exactly one of 'end' or 'hours'" in error_of(write(tmp_path, text))


def test_bad_step(tmp_path):
    message = error_of(write(tmp_path, MINIMAL.replace("hours = 24", 'hours = 24\nstep = "5min"')))
    assert "time.step" in message and "'5min'" in message


def test_malformed_toml(tmp_path):
    assert "not valid TOML" in error_of(write(tmp_path, MINIMAL + "[network\n"))


def test_missing_model_file(tmp_path):
    with pytest.raises(ConfigError, match="model file not found"):
        load_model(tmp_path / "nope.toml")


def test_unknown_model_name_lists_shipped_models():
    with pytest.raises(ConfigError, match="shipped: .*default"):
        load_model("no-such-model")


def test_ev_must_name_a_series(tmp_path):
    message = error_of(write(tmp_path, MINIMAL + '[assets.ev]\nsessions = "cars"\n'))
    assert "assets.ev.sessions" in message and "'cars'" in message


def test_missing_data_file_names_where_it_looked(tmp_path):
    text = MINIMAL + '[series.aq]\nloader = "beijing_multisite"\npath = "aq/none.csv"\n'
    config = load_model(write(tmp_path, text), data_dir=tmp_path / "data")
    with pytest.raises(ConfigError, match="data file 'aq/none.csv' not found.*GRIDOPT_DATA_DIR"):
        config.resolve("aq/none.csv")


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, InputError) and issubclass(ConfigError, ValueError)
    assert ConfigError.exit_code == 2


@pytest.mark.parametrize("name", builtin_models())
def test_shipped_models_validate(name, shared_data):
    config = load_model(name, shared_data)
    assert config.name == name
    for spec in config.series.values():
        if spec.path:
            assert config.resolve(spec.path).exists()


def test_bus_voltage_limits_can_be_overridden_by_index_or_name(tmp_path):
    from gridopt.scenario import build_scenario

    text = MINIMAL.replace('source = "pandapower:case9"', 'source = "pandapower:case9"\nvm_limits_pu = { "4" = [0.92, 1.08] }')
    text += '[series.carbon]\nloader = "simbench_carbon"\n'
    net = build_scenario(load_model(write(tmp_path, text))).net
    assert net.bus.loc[4, ["min_vm_pu", "max_vm_pu"]].tolist() == [0.92, 1.08]
    assert net.bus.loc[3, "max_vm_pu"] == 1.1  # case9's own


def test_bad_bus_voltage_limits_name_the_bus(tmp_path):
    from gridopt.errors import NetworkError
    from gridopt.scenario import build_scenario

    inverted = MINIMAL.replace('"pandapower:case9"', '"pandapower:case9"\nvm_limits_pu = { "4" = [1.1, 0.9] }')
    assert "network.vm_limits_pu: bus 4: min must be below max (got [1.1, 0.9])" in error_of(write(tmp_path, inverted))
    unknown = MINIMAL.replace('"pandapower:case9"', '"pandapower:case9"\nvm_limits_pu = { "Bus 99" = [0.9, 1.1] }')
    with pytest.raises(NetworkError, match="network.vm_limits_pu: 'Bus 99' is neither a bus index nor a bus name"):
        build_scenario(load_model(write(tmp_path, unknown, "u.toml")))
