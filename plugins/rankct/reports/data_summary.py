"""Evidently data-summary report of one day's raw partition, for the data gate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rankct.reports.evidently_io import save_report

_NUMERICAL = ("position", "price", "photo_count", "grade", "events")
_CATEGORICAL = ("surface", "category", "condition", "event_type", "country")
_DATETIME = ("served_at", "event_at", "listed_at", "updated_at", "signup_at")


def data_summary_report(sample: pd.DataFrame, out_dir: Path | str,
                        name: str = "data_summary") -> tuple[Path, Path]:
    """Write the data-summary report (HTML, JSON) of a sample of a partition."""
    from evidently import DataDefinition
    from evidently.presets import DataSummaryPreset

    columns = set(sample.columns)
    definition = DataDefinition(
        numerical_columns=[c for c in _NUMERICAL if c in columns],
        categorical_columns=[c for c in _CATEGORICAL if c in columns],
        datetime_columns=[c for c in _DATETIME if c in columns],
    )
    frame = sample[[c for c in sample.columns if c in _NUMERICAL + _CATEGORICAL + _DATETIME]]
    return save_report([DataSummaryPreset()], frame, None, out_dir, name, definition)
