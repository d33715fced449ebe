"""Online/offline consistency: the online store must serve the values the offline tables hold as
of the last materialization. A mismatch is reported per feature and entity."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER
from rankct.errors import RankctError
from rankct.features.build import FEATURE_TABLES, FeaturePaths
from rankct.online.feast_repo import feature_store


@dataclass
class SkewReport:
    day: str
    checked: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.missing

    def summary(self) -> str:
        head = (f"online/offline skew for dt={self.day}: {'OK' if self.passed else 'FAILED'} "
                f"({self.checked} values, {len(self.mismatches)} mismatched, "
                f"{len(self.missing)} entities missing online)")
        lines = [f"  {m['view']}:{m['feature']} {_entity_text(m)}: online={m['online']!r} "
                 f"offline={m['offline']!r}" for m in self.mismatches[:20]]
        lines += [f"  {m['view']} {_entity_text(m)}: not in the online store"
                  for m in self.missing[:20]]
        return "\n".join([head, *lines])


def _same(a: Any, b: Any, tolerance: float) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, float) or isinstance(b, float):
        return b is not None and abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b)))
    return a == b


def check_skew(config: RankctConfig, day: date, sample_size: int = 200, seed: int = 0,
               tolerance: float = 1e-9) -> SkewReport:
    """Compare a sample of ``day``'s offline feature rows with what the online store serves:
    every batch view, addressed online by its join keys (one or two of them)."""
    store = feature_store(config)
    paths = FeaturePaths(config.data_root)
    report = SkewReport(day=day.isoformat())
    for view, keys in FEATURE_TABLES.items():
        partition = paths.table(view, day)
        if not (partition / SUCCESS_MARKER).exists():
            raise RankctError(f"the offline partition {partition} of {view} is missing or "
                              "incomplete: nothing to compare the online store with",
                              hint=f"build the features of {day} first (`rankct features build "
                                   f"--date {day}`), then materialize them")
        offline = pd.read_parquet(partition)
        offline = offline.sample(min(sample_size, len(offline)), random_state=seed)
        features = [c for c in offline.columns if c not in (*keys, "event_timestamp")]
        entities = [{k: _py(row[k]) for k in keys} for _, row in offline[keys].iterrows()]
        online = store.get_online_features(features=[f"{view}:{f}" for f in features],
                                           entity_rows=entities).to_df()
        for entity, (_, off), (_, on) in zip(entities, offline.iterrows(), online.iterrows()):
            label = {"view": view, "key": ",".join(keys),
                     "entity": entity[keys[0]] if len(keys) == 1 else tuple(entity.values())}
            if all(_py(on[f]) is None for f in features):
                report.missing.append(label)
                continue
            for feature in features:
                report.checked += 1
                if not _same(_py(on[feature]), _py(off[feature]), tolerance):
                    report.mismatches.append({**label, "feature": feature,
                                              "online": _py(on[feature]),
                                              "offline": _py(off[feature])})
    return report


def _entity_text(mismatch: dict[str, Any]) -> str:
    """``item_id=7`` or ``user_id=3 category=dresses``."""
    keys = mismatch["key"].split(",")
    values = mismatch["entity"] if len(keys) > 1 else (mismatch["entity"],)
    return " ".join(f"{k}={v}" for k, v in zip(keys, values))


def _py(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
