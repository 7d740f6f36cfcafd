"""The bad-input corpus (``tests/bad_inputs/``) through ``gridopt run``: one clear line, no run.

Each row of :data:`CASES` is one model file of the corpus (plus command-line options) that
breaks one thing. ``gridopt run`` must exit with the stated code and print exactly one line on
stderr that names the file, key, element or session and says what was expected (the stated
substrings), with no traceback; it must leave no run in the store and no ``--out`` file. The
one exit-3 case (infeasible as posed) is stored, as every run that solves is, and its
explanation names the EV session.

What counts as an error (decided here, documented in ``tests/bad_inputs/README.md``):

- a negative load is a prosumer feeding in: accepted (see :data:`ACCEPTED`);
- a negative PV/wind availability, a negative average CO2 intensity, NaN or inf in any series
  the optimizer reads: errors; a negative marginal intensity is allowed (a regression slope);
- a session that departs before it arrives, or has a negative energy or a zero charger: exit 2;
  a session asking more energy than its charger can give while plugged in: exit 3, explained.

The corpus's data files are made by ``tests/bad_inputs/_make_corpus.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gridopt.cli import main
from gridopt.errors import DataError
from gridopt.io.generic import ColumnSpec, open_csv_series
from gridopt.store import Store

CORPUS = Path(__file__).resolve().parent / "bad_inputs"


@dataclass(frozen=True)
class Case:
    """One bad input: ``model`` (relative to the corpus, or a bare name), the substrings the
    error line must hold, the exit code and extra ``gridopt run`` options."""

    id: str
    model: str
    expect: tuple[str, ...]
    code: int = 2
    argv: tuple[str, ...] = field(default_factory=tuple)


# fmt: off
CASES = [
    # ---- model files: TOML syntax and encoding
    Case("toml_syntax", "model/toml_syntax.toml", ("toml_syntax.toml", "not valid TOML", "line 8")),
    Case("duplicate_key", "model/duplicate_key.toml", ("duplicate_key.toml", "not valid TOML", "line 10")),
    Case("not_utf8", "model/not_utf8.toml", ("not_utf8.toml", "must be UTF-8", "0xfc")),
    Case("model_file_missing", "model/does_not_exist.toml", ("does_not_exist.toml", "model file not found")),
    Case("model_name_unknown", "defualt", ("'defualt'", "neither a file nor a shipped model", "default")),
    # ---- model files: keys
    Case("unknown_top_key", "model/unknown_top_key.toml", ("netwrok: unknown key", "did you mean 'network'")),
    Case("unknown_battery_key", "model/unknown_battery_key.toml",
         ("assets.battery[0].e_mwh_max: unknown key", "did you mean 'e_mwh'")),
    Case("missing_network", "model/missing_network.toml", ("network: required key is missing",)),
    Case("series_not_table", "model/series_not_table.toml", ("series.carbon", "valid dictionary")),
    Case("damage_unknown_pollutant", "model/damage_unknown_pollutant.toml",
         ("policy.damage_cost_per_t.co: unknown key", "'nox', 'so2' or 'pm25'")),
    # ---- model files: types and units
    Case("p_mw_with_unit", "model/p_mw_with_unit.toml",
         ("assets.pv[0].p_mw", "must be a number in MW, written without a unit", "'5 kW'")),
    Case("name_not_string", "model/name_not_string.toml", ("name: must be a string (in quotes)", "(got 5)")),
    Case("p_mw_quoted", "model/p_mw_quoted.toml", ("assets.battery[0].p_mw: must be a number in MW", "'0.5'")),
    Case("cyclic_not_bool", "model/cyclic_not_bool.toml", ("assets.battery[0].cyclic: must be true or false", "(got 1)")),
    Case("hours_fraction", "model/hours_fraction.toml", ("time.hours", "whole number", "1.5")),
    Case("start_not_a_time", "model/start_not_a_time.toml", ("time.start", "ISO 8601", "'yesterday'")),
    Case("stations_not_list", "model/stations_not_list.toml", ("series.carbon.stations", "valid list")),
    Case("p_mw_nan", "model/p_mw_nan.toml", ("assets.battery[0].p_mw", "finite number", "nan")),
    Case("price_inf", "model/price_inf.toml", ("grid.price_per_mwh", "finite number", "inf")),
    # ---- model files: values
    Case("hours_negative", "model/hours_negative.toml", ("time.hours", "greater than 0", "-5")),
    Case("end_before_start", "model/end_before_start.toml", ("time", "'end' must be after 'start'")),
    Case("end_and_hours", "model/end_and_hours.toml", ("time", "exactly one of 'end' or 'hours'")),
    Case("step_30min", "model/step_30min.toml", ("time.step", "'15min' or '1h'", "'30min'")),
    Case("formulation_ac", "model/formulation_ac.toml", ("network.formulation", "'lindistflow'", "'ac'")),
    Case("timezone_unknown", "model/timezone_unknown.toml", ("grid.timezone", "IANA time zone", "'Europe/Berln'")),
    Case("peak_hours_out_of_range", "model/peak_hours_out_of_range.toml",
         ("grid.peak_hours_local[1]", "less than or equal to 24", "25")),
    Case("carbon_price_negative", "model/carbon_price_negative.toml",
         ("policy.carbon_price_per_t", "greater than or equal to 0", "-10.0")),
    Case("time_limit_zero", "model/time_limit_zero.toml", ("solver.time_limit_s", "greater than 0")),
    # ---- model files: storage and generators
    Case("soc_min_above_max", "model/soc_min_above_max.toml",
         ("assets.battery[0]", "soc_min <= soc_initial <= soc_max", "0.8 <= 0.5 <= 0.2")),
    Case("soc_initial_outside", "model/soc_initial_outside.toml",
         ("assets.battery[0]", "soc_min <= soc_initial <= soc_max", "0.95 <= 0.9")),
    Case("soc_max_above_one", "model/soc_max_above_one.toml", ("assets.battery[0].soc_max", "less than or equal to 1", "1.5")),
    Case("eta_zero", "model/eta_zero.toml", ("assets.battery[0].eta_charge", "greater than 0")),
    Case("e_mwh_zero", "model/e_mwh_zero.toml", ("assets.battery[0].e_mwh", "greater than 0")),
    Case("thermal_pmin_above_pmax", "model/thermal_pmin_above_pmax.toml",
         ("assets.thermal[0]", "p_min_mw must be <= p_max_mw", "3.0 > 2.0")),
    # ---- model files: references between sections, the network and the data
    Case("ev_sessions_unknown_series", "model/ev_sessions_unknown_series.toml",
         ("assets.ev.sessions must name a [series.*] entry", "'ev'")),
    Case("ev_sessions_not_sessions", "model/ev_sessions_not_sessions.toml",
         ("assets.ev.sessions", "'carbon'", "yields no sessions")),
    Case("unknown_loader", "model/unknown_loader.toml", ("series.carbon.loader must be one of", "'netcfd'")),
    Case("missing_path", "model/missing_path.toml", ("series.carbon", "needs a 'path' key")),
    Case("data_file_missing", "model/data_file_missing.toml", ("data file '../series/nope.nc' not found",)),
    Case("synthetic_ev_no_buses", "model/synthetic_ev_no_buses.toml", ("series.ev", "needs a 'buses' list")),
    Case("asset_bus_unknown", "model/asset_bus_unknown.toml", ("assets.pv[0].bus must be a bus of", "(got 99)")),
    Case("profile_unknown", "model/profile_unknown.toml", ("asset 'pv1' profile", "'solar_pu'")),
    Case("no_carbon_signal", "model/no_carbon_signal.toml", ("ext_grid_co2_average_t_per_mwh", "add a carbon source")),
    # ---- command-line options
    Case("hours_zero_option", "model/good.toml", ("--start/--hours", "hours", "greater than 0"), argv=("--hours", "0")),
    Case("start_option_not_a_time", "model/good.toml", ("--start/--hours", "ISO 8601", "'tomorrow'"),
         argv=("--start", "tomorrow")),
    Case("out_folder_missing", "model/good.toml", ("--out", "does not exist"), argv=("--out", "{tmp}/no/such/folder/r.nc")),
    Case("out_is_a_folder", "model/good.toml", ("--out", "must be a file name"), argv=("--out", "{tmp}")),
    # ---- networks: sources
    Case("unknown_builtin", "network/unknown_builtin.toml", ("'pandapower:case99'", "no such pandapower built-in", "case9")),
    Case("unknown_simbench", "network/unknown_simbench.toml", ("no such SimBench code", "1-MV-urban--0-sw")),
    Case("wrong_suffix", "network/wrong_suffix.toml", ("'feeder.xml'", ".json, .m or .mat", "'.xml'")),
    Case("empty_source", "network/empty_source.toml", ("network ''", "got suffix ''")),
    Case("network_file_missing", "network/file_missing.toml", ("'nope.json'", "file not found")),
    Case("not_pandapower", "network/not_pandapower.toml", ("not_pandapower.json", "pandapowerNet")),
    Case("truncated_json", "network/truncated.toml", ("truncated.json", "cannot be read as a pandapower JSON", "not JSON")),
    Case("garbage_mat", "network/garbage_mat.toml", ("garbage.mat", "cannot be read as a MATPOWER case")),
    Case("truncated_m", "network/truncated_m.toml", ("truncated.m", "cannot be read as a MATPOWER case")),
    # ---- networks: topology and ratings
    Case("empty_net", "network/empty.toml", ("'empty.json'", "needs an in-service ext_grid")),
    Case("no_slack", "network/no_slack.toml", ("'no_slack.json'", "needs an in-service ext_grid or a gen with slack=True")),
    Case("slack_out_of_service", "network/slack_out_of_service.toml", ("'slack_out_of_service.json'", "in-service ext_grid")),
    Case("island", "network/island.toml", ("'island.json'", "not connected to a slack", "bus 3 ('mv3')")),
    Case("line_max_i_zero", "network/line_max_i_zero.toml", ("line 0 ('l12') max_i_ka must be > 0", "(got 0.0)")),
    Case("line_max_i_nan", "network/line_max_i_nan.toml", ("line 1 ('l23') max_i_ka must be > 0", "(got nan)")),
    Case("line_negative_length", "network/line_negative_length.toml", ("line 1 ('l23') length_km must be > 0", "-0.5")),
    Case("line_no_impedance", "network/line_no_impedance.toml", ("line 0 ('l12') r_ohm_per_km", "x_ohm_per_km is 0")),
    Case("trafo_sn_zero", "network/trafo_sn_zero.toml", ("trafo 0 ('t1') sn_mva must be > 0",)),
    Case("bus_vn_zero", "network/bus_vn_zero.toml", ("bus 2 ('mv2') vn_kv must be > 0",)),
    Case("line_unknown_bus", "network/line_unknown_bus.toml", ("line 1 ('l23') to_bus must be a bus of the network", "42")),
    Case("load_unknown_bus", "network/load_unknown_bus.toml", ("load 1 ('load3') bus must be a bus of the network", "17")),
    # ---- series files (NetCDF): structure
    Case("not_netcdf", "series/not_netcdf.toml", ("not_netcdf.nc", "cannot be read as NetCDF")),
    Case("no_time", "series/carbon_no_time.toml", ("carbon_no_time.nc", "a 'time' coordinate is required", "'hour'")),
    Case("empty_series", "series/carbon_empty.toml", ("carbon_empty.nc", "at least one step")),
    Case("no_units", "series/carbon_no_units.toml", ("carbon_no_units.nc", "'ext_grid_co2_average_t_per_mwh'", "'units'")),
    Case("wrong_units_carbon", "series/carbon_g_per_kwh.toml",
         ("carbon_g_per_kwh.nc", "ext_grid_co2_average_t_per_mwh must be in t/MWh", "'g/kWh'")),
    Case("wrong_units_load", "series/load_kw.toml", ("series.data (netcdf, load_kw.nc)", "load_p_mw must be in MW", "'kW'")),
    Case("load_text", "series/load_text.toml", ("load_text.nc", "load_p_mw must hold numbers")),
    Case("load_no_element_dim", "series/load_no_element_dim.toml", ("load_no_element_dim.nc", "('time', 'load')")),
    Case("load_unknown_element", "series/load_unknown_element.toml", ("load_unknown_element.nc", "load 7 is not a load")),
    Case("price_from_a_series", "series/carbon_with_price.toml", ("carbon_with_price.nc", "ext_grid_price_per_mwh", "[grid]")),
    # ---- series files: values
    Case("carbon_inf", "series/carbon_inf.toml",
         ("ext_grid_co2_marginal_t_per_mwh must be finite", "inf at 2021-01-01 03:00 UTC", "source carbon")),
    Case("carbon_nan", "series/carbon_nan.toml", ("ext_grid_co2_average_t_per_mwh must be finite", "nan at 2021-01-01 05:00")),
    Case("carbon_negative_average", "series/carbon_negative_average.toml",
         ("ext_grid_co2_average_t_per_mwh must be >= 0", "-0.1 at 2021-01-01 02:00")),
    Case("load_nan", "series/load_nan.toml", ("load_p_mw load 1 must be finite", "nan at 2021-01-01 02:00", "source data")),
    Case("sgen_negative", "series/sgen_negative.toml", ("sgen_p_max_mw sgen 0 must be >= 0", "-0.2 at 2021-01-01 05:00")),
    # ---- series files: time
    Case("window_outside", "series/window_outside.toml",
         ("carbon_6h.nc", "covers 2021-01-01 00:00 to 2021-01-01 06:00 UTC", "window 2021-01-01 00:00 to 2021-01-01 12:00")),
    Case("misaligned", "series/carbon_misaligned.toml", ("carbon_misaligned.nc", "model's 1h grid", "(got 2021-01-01 00:30)")),
    Case("missing_step", "series/carbon_gap.toml", ("carbon_gap.nc", "no step 2021-01-01 04:00 UTC")),
    Case("duplicate_time", "series/carbon_duplicate_time.toml", ("carbon_duplicate_time.nc", "strictly increasing", "02:00")),
    Case("naive_time_strings", "series/carbon_naive_strings.toml", ("carbon_naive_strings.nc", "UTC offset", "'timezone'")),
    Case("dst_spring_gap_hour", "series/dst_spring.toml",
         ("carbon_dst_spring.nc", "Europe/Berlin cannot be mapped to UTC", "2021-03-28 02:00")),
    Case("dst_autumn_hour_once", "series/dst_autumn_once.toml",
         ("carbon_dst_autumn_once.nc", "Europe/Berlin cannot be mapped to UTC", "2021-10-31 02:00")),
    # ---- series files (CSV, EIA-930 layout)
    Case("csv_text_cell", "series/eia930_text_cell.toml", ("eia930_text_cell.csv", "column 'NG' must be numeric", "'n/a MW' on line 11")),
    Case("csv_missing_column", "series/eia930_missing_column.toml", ("eia930_missing_column.csv", "column 'COL' is missing")),
    Case("csv_duplicate_time", "series/eia930_duplicate_time.toml", ("eia930_duplicate_time.csv", "must be unique", "line 8", "line 9")),
    Case("csv_bad_time", "series/eia930_bad_time.toml", ("eia930_bad_time.csv", "column 'timestamp' must hold times", "line 13")),
    Case("csv_mixed_offsets", "series/eia930_mixed_offsets.toml",
         ("eia930_mixed_offsets.csv", "all with a UTC offset or all without", "'2021-01-01 15:00:00' on line 17")),
    Case("csv_header_only", "series/eia930_header_only.toml", ("eia930_header_only.csv", "at least one data row")),
    Case("csv_off_grid", "series/eia930_off_grid.toml", ("eia930_off_grid.csv", "1h grid", "20:20")),
    Case("csv_binary", "series/eia930_binary.toml", ("eia930_binary.csv", "cannot be read as CSV")),
    Case("csv_not_gzip", "series/eia930_not_gzip.toml", ("eia930_not_gzip.csv.gz", "cannot be read as CSV", "gzip")),
    # ---- EV sessions (ACN-Data JSON)
    Case("acn_depart_before_arrive", "ev/acn_depart_before_arrive.toml",
         ("acn_depart_before_arrive.json", "session 's2' must depart after it arrives", "03:00 to 2021-01-01 02:00")),
    Case("acn_negative_energy", "ev/acn_negative_energy.toml", ("acn_negative_energy.json", "session 's2' ev_energy_mwh must be >= 0")),
    Case("acn_energy_text", "ev/acn_energy_text.toml", ("acn_energy_text.json", "'kWhDelivered' must be a number", "'7 kWh'")),
    Case("acn_bad_time", "ev/acn_bad_time.toml", ("acn_bad_time.json", "'connectionTime' must be an RFC 1123 GMT time")),
    Case("acn_missing_field", "ev/acn_missing_field.toml", ("acn_missing_field.json", "item 1 must have field 'disconnectTime'")),
    Case("acn_duplicate_id", "ev/acn_duplicate_id.toml", ("acn_duplicate_id.json", "sessionID must be unique", "'s1'")),
    Case("acn_no_items", "ev/acn_no_items.toml", ("acn_no_items.json", "'_items' list")),
    Case("acn_not_json", "ev/acn_not_json.toml", ("acn_not_json.json", "cannot be read as ACN-Data JSON")),
    Case("acn_no_buses", "ev/acn_no_buses.toml", ("series.ev", "needs a 'buses' list")),
    Case("acn_bus_unknown", "ev/acn_bus_unknown.toml", ("series.ev.buses must be buses of", "(got 99)")),
    # ---- EV sessions (NetCDF session tables)
    Case("sessions_depart_before", "ev/sessions_depart_before.toml",
         ("sessions_depart_before.nc", "session 'car-b' must depart after it arrives")),
    Case("sessions_zero_power", "ev/sessions_zero_power.toml", ("sessions_zero_power.nc", "session 'car-b' ev_p_max_mw must be > 0")),
    Case("sessions_unknown_bus", "ev/sessions_unknown_bus.toml", ("sessions_unknown_bus.nc", "session 'car-b' ev_bus", "99")),
    Case("sessions_missing_p_max", "ev/sessions_missing_p_max.toml", ("sessions_missing_p_max.nc", "'ev_p_max_mw' is missing")),
    # car-b asks 0.5 MWh of an 11 kW charger plugged in for 4 h: 0.044 MWh at most, 0.456 short.
    Case("sessions_too_much_energy", "ev/sessions_too_much_energy.toml",
         ("EV session 'car-b' at bus 3 is short 0.456 MWh", "2021-01-01 05:00 UTC"), code=3),
]
# fmt: on

ACCEPTED = ["model/good.toml", "series/load_negative.toml"]
"""Valid models of the corpus: the base every case breaks once, and a prosumer (negative) load."""


def _run(case_model: str, argv: tuple[str, ...], tmp_path: Path) -> tuple[int, Path, Path]:
    store, out = tmp_path / "store", tmp_path / "results.nc"
    model = case_model if Path(case_model).is_absolute() or "/" not in case_model else str(CORPUS / case_model)
    options = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in options:
        options += ["--out", str(out)]
    code = main(["--store", str(store), "run", model, "--no-ac", *options])
    return code, store, out


@pytest.fixture(autouse=True)
def _no_data_dir(monkeypatch):
    """Data paths of the corpus resolve against the model files' folders only."""
    monkeypatch.delenv("GRIDOPT_DATA_DIR", raising=False)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_gives_one_clear_line_and_no_run(case: Case, tmp_path, capsys):
    code, store, out = _run(case.model, case.argv, tmp_path)
    captured = capsys.readouterr()
    assert code == case.code, captured.err
    assert "Traceback" not in captured.err + captured.out
    if case.code == 3:  # solved with slack: stored and explained (on stdout), like any solved run
        for expected in case.expect:
            assert expected in captured.out
        assert [r.status for r in Store(store).list()] == ["infeasible_as_posed"]
        return
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("gridopt: error: ")
    for expected in case.expect:
        assert expected in lines[0]
    assert not store.exists() or Store(store).list() == []
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())
    assert not out.exists()


@pytest.mark.parametrize("model", ACCEPTED)
def test_the_corpus_base_models_run(model, tmp_path, capsys):
    """Each bad case breaks one thing of a model that runs, so it fails for that reason only."""
    code, store, out = _run(model, (), tmp_path)
    assert code == 0, capsys.readouterr().err
    assert [r.status for r in Store(store).list()] == ["optimal"] and out.is_file()


def test_corpus_has_one_case_per_model_file():
    """Every model file of the corpus is a case (or an accepted model), and no case is missing."""
    used = {c.model for c in CASES} | set(ACCEPTED)
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*.toml")}
    assert on_disk <= used
    assert len(CASES) >= 50


LOAD_KW = {"load_kw": ColumnSpec("load_p_mw", "MW", "load", scale=0.001)}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("local_spring_gap_hour.csv", "Europe/Berlin cannot be mapped to UTC (2021-03-28 02:00:00)"),
        ("local_autumn_once.csv", "Cannot infer dst time from 2021-10-31 02:00:00"),
    ],
)
def test_local_time_csv_across_daylight_saving(name, expected):
    """A wall-clock CSV that lists the skipped spring hour, or the repeated autumn hour once."""
    with pytest.raises(DataError) as caught:
        open_csv_series(CORPUS / "series" / name, time_column="time", columns=LOAD_KW,
                        timezone="Europe/Berlin")
    message = str(caught.value)
    assert message.startswith(f"{name}: local times in Europe/Berlin") and expected in message
    assert "\n" not in message


def test_a_store_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    store = tmp_path / "store"
    store.write_text("not a folder")
    code = main(["--store", str(store), "run", str(CORPUS / "model/good.toml"), "--no-ac"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"--store {store}: must be a folder (got a file)" in err
    assert store.read_text() == "not a folder"


@pytest.mark.slow
def test_a_solver_time_limit_too_short_exits_4_with_one_error_line(tmp_path, capsys):
    """The default model over its week with 0.01 s for HiGHS: stopped at the limit, nothing
    stored. (The phase timings before the error are progress lines, not errors.)"""
    default = Path(__file__).resolve().parents[1] / "models" / "default.toml"
    model = tmp_path / "hurried.toml"
    model.write_text(default.read_text().replace("time_limit_s = 300", "time_limit_s = 0.01"))
    code, store, out = _run(str(model), (), tmp_path)
    err = capsys.readouterr().err
    assert code == 4 and "Traceback" not in err
    errors = [line for line in err.splitlines() if not line.startswith("  ")]
    assert errors == [
        f"gridopt: error: {model}: dispatch stopped at the solver time limit of 0.01 s without a "
        "usable solution (raise [solver] time_limit_s; HiGHS stopped without a solution: kTimeLimit)"
    ]
    assert not store.exists() or Store(store).list() == []
    assert not out.exists()
