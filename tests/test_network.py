"""gridopt.network: sources, checks, radiality and the summary, on real pandapower/SimBench grids."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandapower as pp
import pytest
from pandapower.converter.matpower import to_mpc

from gridopt.errors import NetworkError
from gridopt.network import check_network, is_radial, load_network, network_summary

MV_URBAN = "simbench:1-MV-urban--0-sw"


@pytest.fixture(scope="module")
def mv_urban():
    return load_network(MV_URBAN)


@pytest.fixture
def mv(mv_urban):
    """A private copy to break."""
    return copy.deepcopy(mv_urban)


@pytest.fixture(scope="module")
def case33():
    return load_network("pandapower:case33bw")


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize(
    ("source", "buses"),
    [
        ("pandapower:case33bw", 33),  # Baran & Wu 33-bus feeder
        ("pandapower:case9", 9),
        ("pandapower:example_simple", 7),
        ("pandapower:cigre_mv", 15),  # alias of create_cigre_network_mv: CIGRE TF C6.04.02, 15 buses
        ("pandapower:create_cigre_network_mv", 15),
    ],
)
def test_builtin_sources_load_and_are_named(source, buses):
    net = load_network(source)
    assert len(net.bus) == buses
    assert net.name == source


def test_simbench_source_loads_and_passes_the_checks(mv_urban):
    # 1-MV-urban: 2 HV buses + 142 MV nodes, 139 loads (SimBench Node.csv / Load.csv of MV3.101)
    assert len(mv_urban.bus) == 144
    assert len(mv_urban.load) == 139
    assert mv_urban.name == MV_URBAN
    check_network(mv_urban)


def test_json_file_loads_relative_to_base_dir(tmp_path):
    original = load_network("pandapower:case9")
    pp.to_json(original, str(tmp_path / "grid.json"))
    net = load_network("grid.json", base_dir=tmp_path)
    assert len(net.bus) == 9
    assert net.line[["from_bus", "to_bus"]].equals(original.line[["from_bus", "to_bus"]])
    assert net.name == "grid.json"


def test_matpower_mat_file_loads(tmp_path):
    original = load_network("pandapower:case9")
    to_mpc(original, str(tmp_path / "case9.mat"), init="flat")
    net = load_network(str(tmp_path / "case9.mat"))
    # case9: 9 buses, 9 branches (all lines at 345 kV), 3 generators (one of them the slack)
    assert len(net.bus) == 9
    assert len(net.line) + len(net.trafo) == 9
    assert len(net.gen) + len(net.ext_grid) == 3
    assert set(net.bus.vn_kv) == {345.0}


def test_missing_file_is_named(tmp_path):
    with pytest.raises(NetworkError, match=r"file not found: .*nowhere\.json"):
        load_network("nowhere.json", base_dir=tmp_path)


def test_unreadable_json_is_a_network_error(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(NetworkError, match=r"bad\.json: cannot be read as a pandapower JSON"):
        load_network(str(tmp_path / "bad.json"))


def test_unsupported_source_says_what_is_accepted():
    with pytest.raises(NetworkError, match=r"'pandapower:<name>', 'simbench:<code>' or a \.json"):
        load_network("grid.xlsx")


def test_unknown_builtin_suggests_close_names():
    with pytest.raises(NetworkError, match=r"no such pandapower built-in \(did you mean case33bw"):
        load_network("pandapower:case33")


def test_helpers_of_pandapower_networks_are_not_builtins():
    # pandapower.networks re-exports create_bus etc.; they are not grids
    with pytest.raises(NetworkError, match="no such pandapower built-in"):
        load_network("pandapower:create_bus")


def test_unknown_simbench_code_suggests_close_codes():
    with pytest.raises(NetworkError, match=r"'simbench:1-MV-urbn--0-sw': no such SimBench code "
                                           r"\(did you mean 1-MV-urban--0-sw"):
        load_network("simbench:1-MV-urbn--0-sw")


# --------------------------------------------------------------------------- checks


def test_line_rating_names_the_line(mv):
    mv.line.loc[17, "max_i_ka"] = 0.0
    with pytest.raises(NetworkError) as err:
        check_network(mv)
    assert str(err.value) == (
        "network 'simbench:1-MV-urban--0-sw': line 17 ('MV3.101 Line 18') max_i_ka must be > 0 (got 0.0)"
    )


def test_several_bad_lines_are_counted(mv):
    mv.line.loc[[3, 5, 9], "length_km"] = np.nan
    with pytest.raises(NetworkError, match=r"line 3 \('MV3.101 Line 4'\) length_km must be > 0 "
                                           r"\(got nan\) \(and 2 more\)"):
        check_network(mv)


def test_out_of_service_lines_are_not_checked(mv):
    mv.line.loc[17, ["max_i_ka", "in_service"]] = [0.0, False]
    mv.switch.loc[mv.switch.et == "l", "closed"] = True  # keep every bus fed
    check_network(mv)


def test_negative_reactance(mv):
    mv.line.loc[4, "x_ohm_per_km"] = -0.1
    with pytest.raises(NetworkError, match=r"line 4 \('MV3.101 Line 5'\) x_ohm_per_km must be >= 0"):
        check_network(mv)


def test_line_without_impedance(mv):
    mv.line.loc[4, ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    with pytest.raises(NetworkError, match=r"line 4 .* r_ohm_per_km must be > 0 where x_ohm_per_km is 0"):
        check_network(mv)


@pytest.mark.parametrize("column", ["sn_mva", "vk_percent"])
def test_trafo_ratings(mv, column):
    mv.trafo.loc[1, column] = 0.0
    with pytest.raises(NetworkError, match=rf"trafo 1 \('HV1-MV3.101-Trafo2'\) {column} must be > 0 \(got 0.0\)"):
        check_network(mv)


def test_bus_voltage(mv):
    mv.bus.loc[2, "vn_kv"] = 0.0
    with pytest.raises(NetworkError, match=r"bus 2 \('MV3.101 node1'\) vn_kv must be > 0"):
        check_network(mv)


def test_no_slack(mv):
    mv.ext_grid["in_service"] = False
    with pytest.raises(NetworkError, match="needs an in-service ext_grid or a gen with slack=True"):
        check_network(mv)


def test_slack_gen_counts_as_slack(case33):
    net = copy.deepcopy(case33)
    bus = net.ext_grid.bus.iloc[0]
    net.ext_grid["in_service"] = False
    pp.create_gen(net, bus, p_mw=0.0, slack=True)
    check_network(net)


def test_cut_off_load_is_an_error(case33):
    net = copy.deepcopy(case33)
    net.line.loc[16, "in_service"] = False  # line 16 joins bus 16 to bus 17, the end of the main feeder
    with pytest.raises(NetworkError) as err:
        check_network(net)
    assert str(err.value) == (
        "network 'pandapower:case33bw': 1 in-service bus(es) with load or generation are not "
        "connected to a slack: bus 17"
    )


def test_cut_off_branch_names_three_buses_and_counts_the_rest(case33):
    net = copy.deepcopy(case33)
    net.line.loc[17, "in_service"] = False  # line 17 feeds the lateral 18-19-20-21 from bus 1
    with pytest.raises(NetworkError, match=r"4 in-service bus\(es\) .*: bus 18, bus 19, bus 20 and 1 more$"):
        check_network(net)


def test_open_switch_cuts_like_an_out_of_service_line(mv):
    # line 17 runs from node 27 to node 28 of feeder 1; opening both its switches cuts off the
    # 8 nodes beyond it (28-35), each with a load
    mv.switch.loc[(mv.switch.et == "l") & (mv.switch.element == 17), "closed"] = False
    with pytest.raises(NetworkError, match=r": 8 in-service bus\(es\) with load .*: bus 28 "):
        check_network(mv)


def test_empty_cut_off_bus_is_only_a_warning(case33, caplog):
    net = copy.deepcopy(case33)
    spare = pp.create_bus(net, vn_kv=12.66, name="spare busbar")
    with caplog.at_level(logging.WARNING, logger="gridopt.network"):
        check_network(net)
    assert f"bus {spare} ('spare busbar')" in caplog.text
    assert "without load or generation" in caplog.text


# --------------------------------------------------------------------------- radiality and summary


@pytest.mark.parametrize(
    ("source", "radial"),
    [
        ("pandapower:case33bw", True),  # its 5 tie lines are out of service
        (MV_URBAN, True),  # the open-ring cable feeders are opened by line switches
        # mv_oberrhein: two 110/20 kV substations, each with an ext_grid, and 6 open
        # sectionalising switches; operated radially, so its in-service graph is a forest
        ("pandapower:mv_oberrhein", True),
        ("pandapower:case118", False),  # meshed transmission grid
        ("pandapower:case9", False),  # a ring of 9 branches through 9 buses
    ],
)
def test_is_radial(source, radial, mv_urban):
    net = mv_urban if source == MV_URBAN else load_network(source)
    assert is_radial(net) is radial


def test_closing_the_open_switches_meshes_mv_urban(mv):
    mv.switch["closed"] = True
    assert not is_radial(mv)


def test_three_winding_transformer_is_a_star_not_a_loop():
    net = pp.create_empty_network()
    hv, mv_bus, lv = (pp.create_bus(net, vn_kv=v) for v in (110.0, 20.0, 10.0))
    pp.create_ext_grid(net, hv)
    pp.create_transformer3w(net, hv, mv_bus, lv, std_type="63/25/38 MVA 110/20/10 kV")
    pp.create_load(net, lv, p_mw=1.0)
    assert is_radial(net)
    check_network(net)


def test_parallel_lines_are_a_loop():
    net = pp.create_empty_network()
    a, b = (pp.create_bus(net, vn_kv=20.0) for _ in range(2))
    pp.create_ext_grid(net, a)
    for _ in range(2):
        pp.create_line(net, a, b, length_km=1.0, std_type="NA2XS2Y 1x95 RM/25 12/20 kV")
    assert not is_radial(net)


def test_summary_of_case33bw(case33):
    summary = network_summary(case33)
    # Baran & Wu (1989): 33 buses, 32 feeder branches plus 5 open ties, 3715 kW of load
    assert summary["buses"] == 33
    assert summary["lines"] == 32
    assert summary["loads"] == 32
    assert summary["load_p_mw"] == pytest.approx(3.715)
    assert summary["voltage_levels_kv"] == [12.66]
    assert summary["radial"] is True
    assert summary["unsupplied_buses"] == 0


def test_summary_counts_simbench_types(mv_urban):
    summary = network_summary(mv_urban)
    assert summary["sgens_by_type"] == {"Hydro_MV": 1, "lv_RES": 133}
    assert summary["voltage_levels_kv"] == [10.0, 110.0]
    assert summary["switches_open"] == int((~mv_urban.switch.closed).sum()) == 15
    assert summary["sgen_p_mw"] == pytest.approx(mv_urban.sgen.p_mw.sum())
