"""Every option of the dispatch optimizer, with units in the names, defaults and validation.

What pandapower has no column for comes from here: storage efficiencies and SOC policy, generator
emission factors and ramp limits, prices of carbon and pollution, slack penalties, network and
solver choices. Per-element values are keyed by the pandapower index of their table
(``storage={0: StorageParams(...)}``); an element without an entry takes the ``*_default``.

Money is in the currency of the price series (``per_mwh`` = currency/MWh, ``per_t`` =
currency/tonne). Emission factors are tonnes per MWh of electricity produced.

Precedence for a generator's marginal cost: ``gens[i].marginal_cost_per_mwh`` if given, else
``net.poly_cost`` ``cp1_eur_per_mw`` (linear term; quadratic terms are not modelled), else
``gen_default.marginal_cost_per_mwh``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gridopt.errors import ConfigError

__all__ = ["DispatchOptions", "GenParams", "StorageParams", "make_options"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class GenParams(BaseModel):
    """A thermal unit (pandapower ``gen``): costs, emission factors (t/MWh) and ramp limits."""

    model_config = _FROZEN

    marginal_cost_per_mwh: float | None = None
    co2_t_per_mwh: float = Field(0.0, ge=0)
    nox_t_per_mwh: float = Field(0.0, ge=0)
    so2_t_per_mwh: float = Field(0.0, ge=0)
    pm25_t_per_mwh: float = Field(0.0, ge=0)
    ramp_up_mw_per_h: float | None = Field(None, gt=0)  # None: no ramp limit
    ramp_down_mw_per_h: float | None = Field(None, gt=0)


class StorageParams(BaseModel):
    """A battery (pandapower ``storage``). ``None`` takes the value from the net's table.

    Sign convention: charge and discharge are both non-negative powers at the grid connection.
    SOC evolves per step of ``dt_h`` hours as
    ``soc[t] = soc[t-1] * (1 - standing_loss_per_h)**dt_h + (eta_c * charge - discharge / eta_d) * dt_h``.
    ``terminal="cyclic"`` ends the horizon at the initial SOC; ``"value"`` leaves it free and
    credits ``terminal_value_per_mwh`` for every MWh left in store.
    """

    model_config = _FROZEN

    charge_max_mw: float | None = Field(None, ge=0)  # None: net max_p_mw, else sn_mva
    discharge_max_mw: float | None = Field(None, ge=0)  # None: -net min_p_mw, else sn_mva
    charge_efficiency: float = Field(0.95, gt=0, le=1)
    discharge_efficiency: float = Field(0.95, gt=0, le=1)
    standing_loss_per_h: float = Field(0.0, ge=0, lt=1)  # fraction of the SOC lost per hour
    soc_min_mwh: float | None = Field(None, ge=0)  # None: net min_e_mwh (NaN -> 0)
    soc_max_mwh: float | None = Field(None, ge=0)  # None: net max_e_mwh
    initial_soc_mwh: float | None = Field(None, ge=0)  # None: net soc_percent of max_e_mwh
    terminal: Literal["cyclic", "value"] = "cyclic"
    terminal_value_per_mwh: float = 0.0
    degradation_cost_per_mwh: float = Field(0.0, ge=0)  # per MWh of throughput (charge + discharge)


class DispatchOptions(BaseModel):
    """All options of one dispatch run; validated on construction, immutable afterwards."""

    model_config = _FROZEN

    # policy
    carbon_price_per_t: float = Field(0.0, ge=0)
    co2_signal: Literal["marginal", "average"] = "marginal"  # which grid CO2 intensity is priced
    nox_damage_cost_per_t: float = Field(0.0, ge=0)
    so2_damage_cost_per_t: float = Field(0.0, ge=0)
    pm25_damage_cost_per_t: float = Field(0.0, ge=0)
    curtailment_cost_per_mwh: float = Field(0.0, ge=0)
    co2_cap_t: float | None = Field(None, ge=0)  # over the horizon, local + grid import
    # external grid: None takes ext_grid max_p_mw / -min_p_mw when set, else unlimited
    ext_grid_import_max_mw: float | None = None
    ext_grid_export_max_mw: float | None = None
    # assets
    gen_default: GenParams = GenParams()
    gens: dict[int, GenParams] = {}
    storage_default: StorageParams = StorageParams()
    storage: dict[int, StorageParams] = {}
    ev_formulation: Literal["session", "aggregate"] = "session"
    # elastic slacks: high penalties keep every run solvable and show where it is not
    load_shed_penalty_per_mwh: float = Field(10_000.0, gt=0)
    ev_unmet_penalty_per_mwh: float = Field(1_000.0, gt=0)
    thermal_violation_penalty_per_mwh: float = Field(5_000.0, gt=0)
    voltage_violation_penalty_per_pu_h: float = Field(100_000.0, gt=0)  # on squared voltage (pu²)
    slack_tolerance: float = Field(1e-5, gt=0)  # MW or MWh (pu for voltage) counted as "in use"
    # network
    network: Literal["auto", "dc", "lindistflow"] = "auto"  # auto: radial -> lindistflow
    dc_flow: Literal["angle", "cycle"] = "cycle"  # KVL around cycles (fastest on case118) or angles
    vm_min_pu: float = Field(0.95, gt=0)  # where net.bus min_vm_pu is missing
    vm_max_pu: float = Field(1.05, gt=0)
    polygon_sides: int = Field(12, ge=4)  # inscribed polygon of the LinDistFlow MVA limit; even
    # solver
    time_limit_s: float | None = Field(None, gt=0)
    threads: int | None = Field(None, ge=1)
    highs_options: dict[str, bool | int | float | str] = {}
    # solve with the per-step slacks held at zero first, then release them (same optimum; faster
    # when no slack is needed, slower by that first solve when one is)
    lazy_slacks: bool = True
    pyomo_templates: bool = True  # Pyomo's constraint templating when a Pyomo model is built (same model)

    @model_validator(mode="after")
    def _check(self) -> DispatchOptions:
        if self.vm_min_pu >= self.vm_max_pu:
            raise ValueError(
                f"vm_min_pu must be below vm_max_pu (got {self.vm_min_pu} >= {self.vm_max_pu})"
            )
        if self.polygon_sides % 2:
            raise ValueError(f"polygon_sides must be even (got {self.polygon_sides})")
        return self


def make_options(options: DispatchOptions | None = None, **overrides) -> DispatchOptions:
    """Options from keyword arguments (or a copy of ``options`` with ``overrides``).

    Invalid values raise ``ConfigError`` with one line naming the option.
    """
    try:
        if options is None:
            return DispatchOptions(**overrides)
        return DispatchOptions(**{**options.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        raise ConfigError(
            f"dispatch option {where!r}: {err['msg']} (got {err.get('input')!r})"
        ) from None
