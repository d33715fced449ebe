"""The production ranker as a baseline: the logged ranking and a model on the same requests.

The logs carry the production ranker's own ranking (the display positions) and what users did
with it. Judged on those logged labels as they are, the production ranker wins by construction:
users could only click what it showed high. Both rankings are therefore scored with the
position-debiased DCG (:func:`rankct.evaluation.position_bias.ipw_dcg_per_request`), the
examination propensities harvested from the same logs (:mod:`rankct.evaluation.propensity`),
request by request, so the model gate can run a paired test of model minus logged ranking.
DCG rather than NDCG because its inverse-propensity estimate is unbiased, and a per-request
normaliser estimated from the same weighted labels is not (it favours the logging ranker).

:class:`LoggedBaseline` is what the evaluate stage writes and the model gate reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rankct.errors import RankctError
from rankct.evaluation.position_bias import DEFAULT_CLIP, ipw_dcg_per_request
from rankct.io import write_json_atomic

LOGGED = "logged"


@dataclass(frozen=True)
class LoggedBaseline:
    """Per-request debiased DCG@k of a model (column ``model``) and of the logged ranking
    (column ``logged``) on the same requests, and how the propensities were estimated."""

    per_request: pd.DataFrame
    k: int
    clip: float
    method: str
    propensity: list[float] = field(default_factory=list)  # position 1, 2, ...

    @property
    def means(self) -> dict[str, float]:
        """Mean debiased DCG@k of the model and of the logged ranking."""
        return {name: float(self.per_request[name].mean()) for name in ("model", LOGGED)}

    def relative(self) -> pd.DataFrame:
        """Both columns over the logged ranking's mean: the logged ranking averages 1, and the
        mean of ``model - logged`` is the model's relative change."""
        scale = self.means[LOGGED]
        if not scale > 0:
            raise RankctError("the logged ranking has no debiased gain on these requests "
                              "(no logged label): nothing to compare with",
                              hint="evaluate on requests with logged clicks")
        return self.per_request / scale

    def save(self, folder: Path) -> Path:
        """``baseline.parquet`` (per request) and ``baseline.json`` (the rest) in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.per_request.to_parquet(folder / "baseline.parquet")
        return write_json_atomic(folder / "baseline.json", {
            "k": self.k, "clip": self.clip, "method": self.method,
            "propensity": self.propensity, **{f"ipw_dcg@{self.k}_{name}": value
                                              for name, value in self.means.items()}})

    @classmethod
    def load(cls, folder: Path) -> LoggedBaseline:
        """What :meth:`save` wrote."""
        facts = json.loads((folder / "baseline.json").read_text())
        return cls(pd.read_parquet(folder / "baseline.parquet"), int(facts["k"]),
                   float(facts["clip"]), str(facts["method"]), list(facts["propensity"]))


def logged_scores(frame: pd.DataFrame, position: str = "position") -> np.ndarray:
    """Scores that rank every request in its logged order (position 1 first)."""
    positions = frame[position].to_numpy(dtype=np.float64)
    if np.isnan(positions).any():
        raise RankctError(f"{int(np.isnan(positions).sum())} rows have no logged {position}: "
                          "the logged ranking is unknown for their requests",
                          hint="evaluate on requests whose impressions all carry a position")
    return -positions


def logged_baseline(scored: pd.DataFrame, propensity: pd.Series, method: str, score: str,
                    k: int = 10, clip: float = DEFAULT_CLIP, label: str = "grade",
                    request: str = "request_id") -> LoggedBaseline:
    """Debiased DCG@k of ``scored[score]`` and of the logged order, request by request.

    ``propensity`` and ``method`` come from :func:`rankct.evaluation.propensity.examination_curve`
    on the logs (e.g. the whole training window); ``scored`` holds the held-out requests.
    """
    frame = scored[[request, "position", label, score]].assign(_logged=logged_scores(scored))
    columns = {"model": ipw_dcg_per_request(frame, propensity, k, clip, score, label, request),
               LOGGED: ipw_dcg_per_request(frame, propensity, k, clip, "_logged", label,
                                           request)}
    return LoggedBaseline(pd.DataFrame(columns), k, clip, method,
                          [round(float(v), 6) for v in propensity.to_numpy()])
