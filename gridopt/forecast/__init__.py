"""Day-ahead forecasts of load, PV, grid carbon intensity and air quality, with intervals.

One method for every kind of series (:mod:`~gridopt.forecast.core`): a direct multi-horizon
linear regression, one statsmodels OLS fit per lead hour, trained on the same hour of day over
the year before the issue time, with prediction intervals from leave-one-out residuals. Kinds
differ in their scale and features, one module each:

=================== ===================================================== ===================
kind                series                                                exogenous inputs
=================== ===================================================== ===================
``load``            ``load_p_mw``, ``load_q_mvar``, non-PV ``sgen``        ``weather_temp_c``
``pv``              ``pv_p_mw``, ``pv_availability_pu``, PV ``sgen``       irradiance
``air_quality``     ``aq_*_ug_m3`` (log scale)                             the station's weather
``carbon``          ``*co2*_t_per_mwh``                                    ``generation_mw``
=================== ===================================================== ===================

Exogenous weather and irradiance after the issue time are the OBSERVED values, standing in for
a weather forecast; the skill reported for air quality and PV is therefore an upper bound for
operational use. The generation mix enters only as known at the issue time.

Why this method: measured on the data in ``/work/shared/data``, day-ahead (issued 00:00 UTC,
24 h), the same origins for every method, on this shared 2-core machine:

=============================== ======== ======= ======= ====== ======== ======== ======= ========
MAE                             direct   SARIMAX UC      theta  Holt-    STL +    persis- seasonal
                                regress.                        Winters  ETS      tence   naive
=============================== ======== ======= ======= ====== ======== ======== ======= ========
SimBench load G0-A, MW          0.0159   0.0281  0.0272  0.0156 0.0156   0.0175   0.0644  0.0201
CISO carbon intensity, t/MWh    0.0195   0.0305  0.0249  0.0291 0.0276   0.0216   0.0730  0.0247
Aotizhongxin PM2.5, ug/m3       29.3     44.9    40.2    39.5   39.4     46.9     42.5    56.2
10 SimBench loads, MAE / naive  0.785                    0.961  0.887                     1
seconds per forecast            0.03-0.1 2.5-3.7 1.5-3.9 0.1    0.07-0.5 0.07-0.4
=============================== ======== ======= ======= ====== ======== ======== ======= ========

33 origins every 9 days (load in 2016, CISO from March 2022), 39 for PM2.5 (2016-17); the direct
regression as it was before its blend with persistence (``core``), which moved its MAE on these
series by under 1.5 % (``benchmarks/results/forecast_skill.txt``). The
alternatives are fitted on the 8 weeks before the issue time with the season of the baseline
(168 h for load, 24 h otherwise): SARIMAX (2,0,1) with 4 daily (+ 4 weekly) harmonics and, for
PM2.5, the same weather inputs; UC (UnobservedComponents) a local level, the same harmonics and
AR(1); PM2.5 on the log scale throughout. On the load profile G0-A theta and Holt-Winters are
2 % better; over the ten SimBench load profiles the direct regression is the best on eight
(theta on the slowly varying BL-H profile, Holt-Winters on G0-A).

The state-space models take seconds per forecast (100 series would not fit a minute on 2
cores) and are less accurate: SARIMAX with the weather does not beat persistence on PM2.5.
Exponential smoothing, theta and STL+ETS take one seasonal period and no exogenous inputs. The
direct regression fits 24 leads in 0.03-0.1 s, so backtests refit at every origin.

``gridopt.forecast.backtest`` runs rolling-origin backtests against persistence and seasonal
naive; ``gridopt.forecast.dataset`` forecasts the series of a dataset (the result's layout is
described there); ``gridopt.forecast.command`` is ``gridopt forecast`` (a model or a data
file → a forecast dataset in the run store).
"""

from gridopt.forecast.air_quality import AIR_QUALITY
from gridopt.forecast.backtest import Scores, backtest, mase_scale, score, scores_table
from gridopt.forecast.carbon import CARBON
from gridopt.forecast.command import forecast_command, forecast_rows, parse_horizon
from gridopt.forecast.core import COLUMNS, LEVELS, Kind, forecast_series
from gridopt.forecast.dataset import KINDS, exog_frame, forecast_dataset, forecastable, kind_for
from gridopt.forecast.load import LOAD
from gridopt.forecast.pv import PV, pv_kind

__all__ = [
    "AIR_QUALITY",
    "CARBON",
    "COLUMNS",
    "KINDS",
    "LEVELS",
    "LOAD",
    "PV",
    "Kind",
    "Scores",
    "backtest",
    "exog_frame",
    "forecast_command",
    "forecast_dataset",
    "forecast_rows",
    "forecast_series",
    "forecastable",
    "kind_for",
    "mase_scale",
    "parse_horizon",
    "pv_kind",
    "score",
    "scores_table",
]
