"""Run an Evidently report and publish its HTML, its JSON and its snapshot atomically."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from rankct.io import atomic_file


def save_report(metrics: list[Any], current: pd.DataFrame, reference: pd.DataFrame | None,
                out_dir: Path | str, name: str, data_definition: Any = None) -> tuple[Path, Path]:
    """Run an Evidently report of ``metrics`` and write ``<name>.html`` and ``<name>.json``, and
    ``<name>.snapshot.json``, the snapshot the Evidently UI loads
    (:func:`rankct.reports.workspace.add_report`)."""
    from evidently import Dataset, Report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        current_ds = Dataset.from_pandas(current, data_definition=data_definition)
        reference_ds = (Dataset.from_pandas(reference, data_definition=data_definition)
                        if reference is not None else None)
        snapshot = Report(metrics).run(current_data=current_ds, reference_data=reference_ds)
    paths = []

    def save_snapshot(path: str) -> None:
        Path(path).write_text(snapshot.dumps(), encoding="utf-8")

    for suffix, save in (("html", snapshot.save_html), ("json", snapshot.save_json),
                         ("snapshot.json", save_snapshot)):
        final = out_dir / f"{name}.{suffix}"
        with atomic_file(final) as tmp:
            save(str(tmp))
        paths.append(final)
    return paths[0], paths[1]


def snapshot_path(report: Path | str) -> Path:
    """The ``<name>.snapshot.json`` written beside the report ``<name>.html`` or ``.json``."""
    report = Path(report)
    return report.with_name(report.name.rsplit(".", 1)[0] + ".snapshot.json")
