"""The air-quality policy's series as arrays: pollutant-cost weights and emission caps.

Read once by ``gridopt.dispatch.inputs.prepare`` from the series ``gridopt.aq_policy`` makes:

- ``aq_weight``: ``(time)`` (every unit alike) or ``(time, gen)``; units absent from it and runs
  without it weigh 1. Multiplies the unit's pollutant damage costs.
- ``aq_cap_kg_per_h(time, aq_zone, pollutant)`` with ``aq_zone_gen(aq_zone, gen)``: the cap on
  the summed emission rate of each zone's units (kg/h; NaN: no cap). Formulated in
  ``gridopt.dispatch.emissions.define_aq_cap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError

__all__ = ["AqCaps", "read_aq_weight", "read_aq_caps"]


@dataclass(frozen=True)
class AqCaps:
    """Emission caps by zone: ``cap_kg_per_h[t, k, p]`` (p in ``POLLUTANTS`` order; NaN: none)
    on the units with ``zone_of_gen == k`` (-1: outside every zone)."""

    zone: list[str]
    zone_of_gen: np.ndarray  # (G,) int
    cap_kg_per_h: np.ndarray  # (T, K, P)


def read_aq_weight(series: xr.Dataset, gen_index: np.ndarray) -> np.ndarray:
    """(T, G) weights on the units' pollutant damage costs (1 without ``aq_weight``)."""
    n_time, n_gen = series.sizes["time"], len(gen_index)
    out = np.ones((n_time, n_gen))
    if "aq_weight" not in series:
        return out
    var = series["aq_weight"]
    if var.dims == ("time",):
        out[:] = var.values[:, None]
    elif set(var.dims) == {"time", "gen"}:
        pos = pd.Index(var.indexes["gen"]).get_indexer(gen_index)
        out[:, pos >= 0] = var.transpose("time", "gen").values[:, pos[pos >= 0]]
    else:
        raise DataError(f"series: aq_weight must have dims ('time',) or ('time', 'gen') (got {var.dims})")
    if not (np.isfinite(out) & (out >= 0)).all():
        raise DataError("series: aq_weight must be finite and >= 0 at every step")
    return out


def read_aq_caps(series: xr.Dataset, gen_index: np.ndarray, pollutants: Sequence[str]) -> AqCaps | None:
    """The caps of ``aq_cap_kg_per_h`` on the units of ``aq_zone_gen``; None without caps."""
    if "aq_cap_kg_per_h" not in series:
        return None
    if "aq_zone_gen" not in series:
        raise DataError("series: aq_cap_kg_per_h needs aq_zone_gen(aq_zone, gen), the units of each zone")
    cap = series["aq_cap_kg_per_h"]
    if set(cap.dims) != {"time", "aq_zone", "pollutant"}:
        raise DataError(f"series: aq_cap_kg_per_h must have dims ('time', 'aq_zone', 'pollutant') (got {cap.dims})")
    unknown = sorted(set(cap["pollutant"].values.tolist()) - set(pollutants))
    if unknown:
        raise DataError(f"series: aq_cap_kg_per_h pollutant must be in {list(pollutants)} (got {unknown})")
    zones = [str(z) for z in cap["aq_zone"].values]
    values = cap.reindex(pollutant=list(pollutants)).transpose("time", "aq_zone", "pollutant").values
    if (values < 0).any():
        raise DataError("series: aq_cap_kg_per_h must be >= 0 where given")
    member = series["aq_zone_gen"].reindex(aq_zone=zones).transpose("aq_zone", "gen")
    pos = pd.Index(member.indexes["gen"]).get_indexer(gen_index)
    inside = np.zeros((len(zones), len(gen_index)), bool)
    inside[:, pos >= 0] = member.fillna(False).values.astype(bool)[:, pos[pos >= 0]]
    if (inside.sum(axis=0) > 1).any():
        g = int(np.flatnonzero(inside.sum(axis=0) > 1)[0])
        raise DataError(f"series: aq_zone_gen puts gen {gen_index[g]} in more than one zone")
    zone_of_gen = np.where(inside.any(axis=0), inside.argmax(axis=0), -1)
    return AqCaps(zones, zone_of_gen, values.astype(float))
