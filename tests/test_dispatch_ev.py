"""EV formulations: per session against the per-bus envelope, V2G, and real ACN sessions."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from _dispatch_nets import ev_sessions, hours, series, two_buses

from gridopt.dispatch import optimize
from gridopt.dispatch.inputs import ev_slots, fill_ev_slots

PRICES = [30, 10, 20, 5, 40, 50, 15, 25]


def _session(sid, bus, arrival, departure, energy, p_max=0.011):
    return dict(id=sid, bus=bus, arrival=f"2024-01-01 {arrival}", departure=f"2024-01-01 {departure}",
                energy_mwh=energy, p_max_mw=p_max)


def _slot_of_car_b():
    """Two slots at bus 1 over 6 hours from 00:00; slot 0 holds car 'b' (0.05 MWh at up to 0.011
    MW, plugged in 00:30-09:00), slot 1 is empty."""
    ts = lambda hhmm: np.array([np.datetime64(f"2024-01-01T{hhmm}", "ns")])
    return fill_ev_slots(ev_slots(np.array([1, 1]), np.array([1, 1])), np.array([0]), hours(6), 1.0,
                         ts("00:30"), ts("09:00"), np.array([0.05]), np.array([0.011]))


def test_a_slot_is_bounded_by_its_car_and_owes_what_cannot_come_after_the_window():
    # After the window (06:00-09:00) car 'b' can still take 3 × 0.011 = 0.033 MWh: the window owes
    # at least 0.05 - 0.033 = 0.017 and at most 0.05. It may draw 0.011 MW an hour while plugged
    # in, half of it in hour 0 (plugged in at 00:30); the empty slot nothing.
    slots = _slot_of_car_b()
    np.testing.assert_allclose(slots.p_max_mw[:, 0], [0.0055, 0.011, 0.011, 0.011, 0.011, 0.011])
    np.testing.assert_array_equal(slots.p_max_mw[:, 1], 0.0)
    np.testing.assert_allclose(slots.energy_mwh, [0.017, 0.0])
    np.testing.assert_allclose(slots.energy_max_mwh, [0.05, 0.0])
    assert slots.departure[0] == np.datetime64("2024-01-01T09:00") and np.isnat(slots.departure[1])


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        # it takes what it owes in the cheapest hours: 0.011 at 03:00 (5), 0.006 at 01:00 (10)
        ([30, 10, 20, 5, 40, 50], [0, 0.006, 0, 0.011, 0, 0]),
        # import pays at 03:00 and 04:00: it fills both (0.022, more than it owes) and nothing else
        ([30, 10, 20, -5, -1, 50], [0, 0, 0, 0.011, 0.011, 0]),
    ],
)
def test_a_slot_takes_at_least_what_it_owes_and_at_most_what_the_car_needs(prices, expected):
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    res = optimize(net, series(6, prices), _slot_of_car_b(), network="dc")
    np.testing.assert_allclose(res.ev_p_mw.sel(session=0), expected, atol=1e-9)
    np.testing.assert_allclose(res.ev_p_mw.sel(session=1), 0.0, atol=1e-12)
    assert float(res.ev_unmet_mwh.sum()) == pytest.approx(0.0, abs=1e-12)


def test_envelope_power_is_capped_by_what_the_plugged_sessions_still_need():
    # Hours priced 100, 10, 50; cars 'a' (0.001 MWh) and 'b' (0.022 MWh) plugged 00:00-03:00 at up
    # to 0.011 MW each. No car takes more in an hour than it needs, so the envelope allows
    # 0.001 + 0.011 = 0.012 MW an hour, not 0.022: the cheap hour takes 0.012 and hour 2 the
    # remaining 0.011, as the cars themselves would (without the cap the envelope would buy
    # 0.022 in hour 1, which no split between the two cars can take).
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    ev = ev_sessions([_session("a", 1, "00:00", "03:00", 0.001), _session("b", 1, "00:00", "03:00", 0.022)])
    envelope = optimize(net, series(3, [100, 10, 50]), ev, network="dc", ev_formulation="aggregate")
    np.testing.assert_allclose(envelope.ev_p_mw.sel(ev_bus=1), [0, 0.012, 0.011], atol=1e-9)
    per_session = optimize(net, series(3, [100, 10, 50]), ev, network="dc")
    assert envelope.attrs["objective"] == pytest.approx(per_session.attrs["objective"], rel=1e-12)

def test_envelope_equals_per_session_optimum_where_it_is_exact():
    # Exact cases (see gridopt.dispatch.ev): bus 1 has three identical sessions, bus 0 a single one.
    # Both formulations then describe the same feasible aggregate, hence the same optimum.
    # By hand for bus 1 (window hours 1-4, 3 × 0.03 MWh at up to 3 × 0.011 MW): hour 3 (5/MWh)
    # takes 0.033, hour 1 (10/MWh) 0.033, hour 2 (20/MWh) the remaining 0.024.
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    rows = [_session(f"car{i}", 1, "01:00", "05:00", 0.03) for i in range(3)]
    rows.append(_session("solo", 0, "00:30", "07:00", 0.05))
    ev = ev_sessions(rows)
    per_session = optimize(net, series(8, PRICES), ev, network="dc")
    envelope = optimize(net, series(8, PRICES), ev, network="dc", ev_formulation="aggregate")
    assert envelope.attrs["objective"] == pytest.approx(per_session.attrs["objective"], rel=1e-9)
    np.testing.assert_allclose(
        envelope.ev_p_mw.sel(ev_bus=1), [0, 0.033, 0.024, 0.033, 0, 0, 0, 0], atol=1e-9
    )
    cars = per_session.ev_p_mw.sel(session=[f"car{i}" for i in range(3)]).sum("session")
    np.testing.assert_allclose(cars, envelope.ev_p_mw.sel(ev_bus=1), atol=1e-9)


def _acn_day(shared_data, start: str) -> pd.DataFrame:
    """Sessions of the Caltech ACN site arriving within 24 h of ``start``, times as naive UTC."""
    path = shared_data / "ev" / "acndata_sessions_caltech_2020-12_2021-09.json.gz"
    with gzip.open(path) as fh:
        items = json.load(fh)["_items"]
    frame = pd.DataFrame(items)[["sessionID", "stationID", "connectionTime", "disconnectTime", "kWhDelivered"]]
    fmt = "%a, %d %b %Y %H:%M:%S GMT"
    frame["arrival"] = pd.to_datetime(frame.connectionTime, format=fmt)
    frame["departure"] = pd.to_datetime(frame.disconnectTime, format=fmt)
    start = pd.Timestamp(start)
    return frame[(frame.arrival >= start) & (frame.arrival < start + pd.Timedelta(hours=24))]


def test_envelope_is_a_relaxation_on_real_acn_sessions(shared_data):
    # Real sessions (Friday 2021-09-10 at Caltech, 41 arrivals from local midnight = 07:00 UTC),
    # 6.6 kW chargers, spread over two buses by station. With different windows the envelope may be loose, never tight-er:
    # its optimum is at most the per-session one, and here within 1 %.
    acn = _acn_day(shared_data, "2021-09-10 07:00")
    assert len(acn) == 41
    station_bus = {sid: k % 2 for k, sid in enumerate(sorted(acn.stationID.unique()))}
    ev = ev_sessions([
        dict(id=row.sessionID, bus=station_bus[row.stationID], arrival=row.arrival, departure=row.departure,
             energy_mwh=row.kWhDelivered / 1000, p_max_mw=0.0066)
        for row in acn.itertuples()
    ])
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    hours = 36
    prices = 40 + 25 * np.sin(np.arange(hours) / 24 * 2 * np.pi)
    ds = series(hours, prices).assign_coords(time=pd.date_range("2021-09-10 07:00", periods=hours, freq="h"))
    per_session = optimize(net, ds, ev, network="dc")
    envelope = optimize(net, ds, ev, network="dc", ev_formulation="aggregate")
    lower, upper = envelope.attrs["objective"], per_session.attrs["objective"]
    assert lower <= upper + 1e-6
    assert lower == pytest.approx(upper, rel=0.01)
    np.testing.assert_allclose(per_session.ev_unmet_mwh.sum(), envelope.ev_unmet_mwh.sum(), atol=1e-6)


def test_v2g_returns_energy_when_prices_peak():
    # A V2G car plugged in 00:00-04:00 must end with 0.01 MWh; prices 10, 100, 10, 10.
    # Its cumulative energy stays within [0, 0.01] MWh: it charges 0.01 in hour 0 (cheap), sends
    # 0.01 back at 100/MWh in hour 1, then takes 0.01 again in hours 2-3: 0.01 - 0.01 + 0.01.
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    ev = ev_sessions([dict(id="v", bus=1, arrival="2024-01-01 00:00", departure="2024-01-01 04:00",
                           energy_mwh=0.01, p_max_mw=0.011, v2g=True)])
    res = optimize(net, series(4, [10, 100, 10, 10]), ev, network="dc")
    p = res.ev_p_mw.sel(session="v").values
    assert p[0] == pytest.approx(0.010)
    assert p[1] == pytest.approx(-0.010)
    assert p[2] + p[3] == pytest.approx(0.010)
    assert float(res.ev_unmet_mwh.sel(session="v")) == pytest.approx(0, abs=1e-9)
