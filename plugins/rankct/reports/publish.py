"""Evidently reports that read without code: a title, tags, an explanation and the figures rankct
computed on top of Evidently's own widgets, published atomically as HTML and JSON.

Evidently's HTML starts with its widgets only; an analyst opening ``drift.html`` from a bucket
needs to know what was compared with what, so a header is added. The JSON keeps Evidently's
metric results under ``evidently`` beside rankct's ``summary`` (the values the gates judged), and
``<name>.snapshot.json`` is the full snapshot the Evidently UI loads (``Snapshot.load``).
"""

from __future__ import annotations

import html
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rankct.io import write_json_atomic, write_text_atomic


@dataclass(frozen=True)
class ReportPaths:
    """The files of one published report."""

    html: Path
    json: Path
    snapshot: Path

    def as_list(self) -> list[Path]:
        return [self.html, self.json, self.snapshot]


@dataclass
class Header:
    """What an analyst reads first: title, one paragraph, tags, key facts and summary tables."""

    title: str
    description: str
    tags: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def run_snapshot(metrics: list[Any], current: pd.DataFrame, reference: pd.DataFrame | None,
                 definition: Any, header: Header) -> Any:
    """Run an Evidently report; the header's title, tags and facts go into the snapshot."""
    from evidently import Dataset, Report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Evidently warns about its own deprecated internals
        current_ds = Dataset.from_pandas(current, data_definition=definition)
        reference_ds = (Dataset.from_pandas(reference, data_definition=definition)
                        if reference is not None else None)
        report = Report(metrics, metadata=dict(header.facts), tags=list(header.tags),
                        include_tests=True)
        return report.run(current_ds, reference_ds, name=header.title)


def publish(snapshot: Any, header: Header, summary: dict[str, Any], out_dir: Path | str,
            name: str) -> ReportPaths:
    """Write ``<name>.html``, ``<name>.json`` and ``<name>.snapshot.json`` under ``out_dir``."""
    out_dir = Path(out_dir)
    page = snapshot.get_html_str(as_iframe=False)
    page = page.replace("<head>", f"<head><title>{html.escape(header.title)}</title>", 1)
    page = page.replace("<body>", "<body>" + _header_html(header), 1)
    document = {"title": header.title, "description": header.description, "tags": header.tags,
                "facts": header.facts, "summary": summary,
                "tables": {key: json.loads(table.to_json(orient="records"))
                           for key, table in header.tables.items()},
                "evidently": snapshot.dict()}
    return ReportPaths(
        html=write_text_atomic(out_dir / f"{name}.html", page),
        json=write_text_atomic(out_dir / f"{name}.json",
                               json.dumps(document, indent=2, default=_plain) + "\n"),
        snapshot=write_json_atomic(out_dir / f"{name}.snapshot.json",
                                   json.loads(snapshot.dumps())))


def _plain(value: Any) -> Any:
    """numpy scalars and the like, for json.dumps."""
    return value.item() if hasattr(value, "item") else str(value)


def _header_html(header: Header) -> str:
    esc = html.escape
    tags = " ".join(f'<span style="background:#e8eefc;border-radius:4px;padding:2px 8px;'
                    f'margin-right:4px">{esc(tag)}</span>' for tag in header.tags)
    facts = "".join(f"<tr><th style='text-align:left;padding-right:16px'>{esc(k)}</th>"
                    f"<td>{esc(v)}</td></tr>" for k, v in header.facts.items())
    tables = "".join(
        f"<h3>{esc(title)}</h3>"
        + table.to_html(index=False, float_format=lambda x: f"{x:.4f}", border=0,
                        na_rep="n/a", justify="left")
        for title, table in header.tables.items())
    return ('<header style="font-family:sans-serif;margin:24px 32px">'
            f"<h1>{esc(header.title)}</h1><p>{esc(header.description)}</p><p>{tags}</p>"
            f"<table>{facts}</table>{tables}"
            "<style>header table.dataframe td, header table.dataframe th {padding:4px 12px}"
            "</style></header>")
