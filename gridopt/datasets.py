"""Public data sets that no installed package ships: where they live in the data folder, where
they are published, and how ``gridopt data fetch`` gets the ones with a public download address.

The data folder is ``--data-dir`` / ``$GRIDOPT_DATA_DIR``; ``fetch`` downloads into it (or into
``~/.cache/gridopt/data`` when none is set) and unpacks archives there.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from gridopt.config import builtin_model_path, builtin_models, load_model
from gridopt.errors import DataError, GridoptError

__all__ = ["DATASETS", "Dataset", "default_cache_dir", "fetch", "files_needed"]


@dataclass(frozen=True)
class Dataset:
    """One public data set: ``path`` is relative to the data folder."""

    name: str
    path: str
    title: str
    published: str
    licence: str
    download: str | None = None  # a zip archive with the files, when there is a public one


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "beijing_multisite",
            "air_quality/beijing_multisite",
            "Beijing Multi-Site Air-Quality Data, 12 stations, hourly 2013-2017 (Zhang et al. 2017)",
            "UCI Machine Learning Repository, dataset 501",
            "CC BY 4.0",
            "https://archive.ics.uci.edu/static/public/501/beijing+multi+site+air+quality+data.zip",
        ),
        Dataset(
            "china_5cities_pm25",
            "air_quality/china_5cities_pm25",
            "PM2.5 Data of Five Chinese Cities, hourly 2010-2015 (Liang et al. 2016)",
            "UCI Machine Learning Repository, dataset 394",
            "CC BY 4.0",
            "https://archive.ics.uci.edu/static/public/394/pm2+5+data+of+five+chinese+cities.zip",
        ),
        Dataset(
            "airquality_uci",
            "air_quality/AirQualityUCI.csv",
            "Air Quality: reference analysers beside a metal-oxide sensor array (De Vito et al. 2008)",
            "UCI Machine Learning Repository, dataset 360",
            "CC BY 4.0",
            "https://archive.ics.uci.edu/static/public/360/air+quality.zip",
        ),
        Dataset(
            "eia930",
            "carbon_intensity",
            "EIA-930 hourly net generation by fuel with average carbon intensity, 2022",
            "U.S. EIA Hourly Electric Grid Monitor (EIA-930), per balancing authority",
            "public domain",
        ),
        Dataset(
            "acn_caltech",
            "ev/acndata_sessions_caltech_2020-12_2021-09.json.gz",
            "ACN-Data EV charging sessions, Caltech site (Lee, Li & Low 2019)",
            "ACN-Data API (a free account token is needed to download)",
            "ACN-Data terms of use",
        ),
        Dataset(
            "sgcc_solar",
            "solar",
            "State Grid PV plant output and weather, 15 min, 2019-2020 (Chen & Xu 2022)",
            "Scientific Data 9:577 (2022), doi:10.1038/s41597-022-01696-6",
            "CC BY 4.0",
        ),
        Dataset(
            "china_grid_factors",
            "emission_factors/china_grid_co2_factors_2021_2022.csv",
            "China's grid CO2 emission factors by province and regional grid, 2021-2022",
            "Ministry of Ecology and Environment / National Bureau of Statistics of China",
            "public figures",
        ),
    ]
}


def default_cache_dir() -> Path:
    """Where ``fetch`` puts data when no data folder is set."""
    return Path.home() / ".cache" / "gridopt" / "data"


def dataset_for(relpath: str) -> Dataset | None:
    """The registered data set a model's data path belongs to."""
    for d in DATASETS.values():
        if relpath == d.path or relpath.startswith(d.path.rstrip("/") + "/"):
            return d
    return None


def files_needed(data_dir: Path | None) -> list[dict[str, str]]:
    """For every shipped model, the data paths it reads and whether they are in ``data_dir``."""
    rows = []
    for model in builtin_models():
        config = load_model(builtin_model_path(model), data_dir)
        for name, spec in config.series.items():
            if spec.path is None:
                continue
            ds = dataset_for(spec.path)
            here = data_dir is not None and (data_dir / spec.path).exists()
            rows.append({
                "model": model,
                "series": name,
                "path": spec.path,
                "found": "yes" if here else "no",
                "dataset": ds.name if ds else "-",
                "published": ds.published if ds else "-",
            })
    return rows


def fetch(name: str, data_dir: Path | None, timeout_s: float = 60.0) -> Path:
    """Download data set ``name`` into ``data_dir`` (or the cache) and return its folder."""
    ds = DATASETS.get(name)
    if ds is None:
        raise DataError(f"data set must be one of {sorted(DATASETS)} (got {name!r})")
    if ds.download is None:
        raise GridoptError(
            f"data set {name!r} has no public download address; get it from {ds.published} "
            f"and put it at <data dir>/{ds.path}"
        )
    target = (data_dir or default_cache_dir()) / ds.path
    folder = target if not target.suffix else target.parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        archive = Path(tmp) / "download.zip"
        try:
            with urllib.request.urlopen(ds.download, timeout=timeout_s) as resp, archive.open("wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise GridoptError(
                f"cannot download {name!r} from {ds.download} ({getattr(exc, 'reason', exc)}); "
                "check the network, or copy the files into the data folder by hand"
            ) from None
        _unpack(archive, folder)
    return folder


def _unpack(archive: Path, folder: Path) -> None:
    """Extract every CSV of the archive (and of archives inside it) flat into ``folder``."""
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            if member.lower().endswith(".zip"):
                inner = archive.with_name(Path(member).name)
                inner.write_bytes(zf.read(member))
                _unpack(inner, folder)
            elif member.lower().endswith(".csv") and not member.startswith("__MACOSX"):
                (folder / Path(member).name).write_bytes(zf.read(member))
