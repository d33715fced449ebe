"""Time split of a training frame by request: train on the past, validate and test on what came
after, with no request on two sides.

A request's time is the earliest ``event_timestamp`` of its rows (they share the served time);
timestamps without a zone are taken as UTC, as Spark hands them over.
With ``by="days"`` the cut falls on UTC calendar days of that time: the last ``test`` days are the
test split, the ``valid`` days before them validation, everything earlier train. With
``by="fraction"`` the requests ordered by (time, id) are cut by count, for ranges too short to
spare whole days. Inside every split the rows come grouped by request, requests in time order,
rows in logged position order (the order XGBoost reads as the display position when it debiases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rankct.config import TrainingSplitConfig
from rankct.errors import RankctError


@dataclass(frozen=True)
class Split:
    """Three disjoint sets of requests, each grouped by request and time-ordered."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def describe(self) -> dict[str, dict[str, object]]:
        """Requests, rows and time range of each split (for logs and run metadata)."""
        return {name: {"requests": int(part["request_id"].nunique()), "rows": len(part),
                       "from": part["event_timestamp"].min(), "to": part["event_timestamp"].max()}
                for name, part in (("train", self.train), ("valid", self.valid),
                                   ("test", self.test))}


def _request_times(frame: pd.DataFrame, time: str, request: str) -> pd.Series:
    if not {time, request} <= set(frame.columns):
        missing = sorted({time, request} - set(frame.columns))
        raise RankctError(f"training frame lacks column(s) {missing} needed for the time split",
                          hint="build it with rankct.training_set.training_set")
    stamps = pd.to_datetime(frame[time])
    if stamps.isna().any():
        raise RankctError(f"column {time!r} has {int(stamps.isna().sum())} missing served times",
                          hint="every impression needs its served time")
    # Naive stamps are UTC already (Spark sessions run in UTC and hand them over without a zone).
    # Naive UTC from here on: datetime64 columns sort natively, tz-aware ones as objects.
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert(None)
    return stamps.groupby(frame[request].to_numpy(), sort=False).min()


def _split_side(times: pd.Series, config: TrainingSplitConfig) -> pd.Series:
    """0 train, 1 valid, 2 test for every request (indexed by request id)."""
    if config.by == "days":
        days = times.dt.floor("D")
        calendar = np.sort(days.unique())
        n_test, n_valid = int(config.test), int(config.valid)
        test_from = calendar[-n_test] if len(calendar) >= n_test else None
        valid_from = calendar[-(n_test + n_valid)] if len(calendar) >= n_test + n_valid else None
        side = np.zeros(len(times), dtype=np.int8)
        if valid_from is not None:
            side[(days >= valid_from).to_numpy()] = 1
        if test_from is not None:
            side[(days >= test_from).to_numpy()] = 2
        return pd.Series(side, index=times.index)
    order = pd.DataFrame({"t": times.to_numpy(), "r": times.index}).sort_values(
        ["t", "r"], kind="stable").index.to_numpy()
    n = len(times)
    n_test, n_valid = round(n * config.test), round(n * config.valid)
    side = np.zeros(n, dtype=np.int8)
    side[order[n - n_test - n_valid:]] = 1
    side[order[n - n_test:]] = 2
    return pd.Series(side, index=times.index)


def split_by_time(frame: pd.DataFrame, config: TrainingSplitConfig | None = None, *,
                  time: str = "event_timestamp", request: str = "request_id",
                  position: str | None = "position") -> Split:
    """Cut ``frame`` (one row per impression) into train / valid / test by request time.

    Rows of a request stay together and keep ``position`` order (frame order where the column is
    absent or ``position`` is None). Raises :class:`RankctError` when a split would be empty.
    """
    config = config or TrainingSplitConfig()
    times = _request_times(frame, time, request)
    side = _split_side(times, config)
    rows = pd.DataFrame({"_t": times.reindex(frame[request].to_numpy()).to_numpy(),
                         "_r": frame[request].to_numpy(),
                         "_s": side.reindex(frame[request].to_numpy()).to_numpy(),
                         "_i": np.arange(len(frame))})
    keys = ["_t", "_r"]
    if position and position in frame.columns:
        # Nulls last: an impression without a logged position was not seen at a known slot.
        rows["_p"] = frame[position].to_numpy(dtype=np.float64, na_value=np.inf)
        keys.append("_p")
    rows = rows.sort_values([*keys, "_i"], kind="stable")
    unit = "day(s)" if config.by == "days" else "of the requests"
    parts = {}
    for code, name, size in ((0, "train", None), (1, "valid", config.valid),
                             (2, "test", config.test)):
        index = rows.loc[rows["_s"] == code, "_i"].to_numpy()
        if len(index) == 0:
            n_days = times.dt.floor("D").nunique()
            wanted = f"the last {size:g} {unit}" if size else "everything before valid and test"
            raise RankctError(
                f"the {name} split is empty: the frame spans {n_days} day(s) of requests "
                f"({len(times)} requests) and {name} takes {wanted}",
                hint="train on more days, or make training.split.valid/test smaller "
                     "(training.split.by=fraction cuts a short range by request count)")
        parts[name] = frame.iloc[index].reset_index(drop=True)
    return Split(**parts)
