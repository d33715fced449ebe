"""Data gate 1 on real Spark: clean days pass, every injected fault is caught precisely."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from rankct.contract import partition_path
from rankct.errors import DataGateFailed
from rankct.quality.gate import require_pass, validate_partition
from rankct.simulate import simulate

from tests.conftest import START

pytestmark = pytest.mark.integration
FAULT_DAY = START + timedelta(days=4)  # four clean days before it, for the volume band


def _failed(result) -> set[tuple[str, str, str | None]]:
    return {(c.table, c.rule, c.column) for c in result.failures}


def test_clean_days_pass_and_write_result_and_report(tiny_market, config, spark, tmp_path) -> None:
    result = validate_partition(tiny_market, FAULT_DAY, config, spark, reports_dir=tmp_path)
    assert result.passed, result.summary()
    saved = json.loads(Path(result.result_json).read_text())
    assert saved["passed"] is True and saved["date"] == FAULT_DAY.isoformat()
    rules = {c["rule"] for c in saved["checks"]}
    assert {"schema", "null_rate", "unique_key", "known_items", "known_users",
            "event_after_impression", "event_in_window", "volume_band"} <= rules
    html = Path(result.report_html).read_text()
    assert "<html" in html.lower() and len(html) > 10_000
    metrics = json.loads(Path(result.report_json).read_text())["metrics"]
    assert any(m["metric_name"].startswith("RowCount") and m["value"] > 1000 for m in metrics)
    assert require_pass(result) is result


EXPECTED = {
    "null_keys": ("impressions", "null_rate", "user_id"),
    "duplicate_events": ("events", "unique_key", "request_id,item_id,event_type,event_at"),
    "missing_day": ("impressions", "partition_exists", None),
    "renamed_column": ("impressions", "schema_column", "item_id"),
    "retyped_column": ("items", "schema_type", "price"),
    "events_before_impression": ("events", "event_after_impression", "event_at"),
    "volume_drop": ("impressions", "volume_band", None),
    "orphan_items": ("impressions", "known_items", "item_id"),
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_injected_fault_is_caught_precisely(fault, config, spark, tmp_path) -> None:
    root = tmp_path / "data"
    simulate(root, days=5, scale="tiny", seed=11, start=START, faults={fault: "5"})
    result = validate_partition(root, FAULT_DAY, config, spark, reports_dir=tmp_path / "reports")
    assert not result.passed
    assert EXPECTED[fault] in _failed(result), result.summary()
    failure = next(c for c in result.failures if (c.table, c.rule, c.column) == EXPECTED[fault])
    # The message names table, partition, rule, what was seen and what was allowed.
    assert f"dt={FAULT_DAY}" in failure.message and failure.rule in failure.message
    assert "what to do:" in failure.message
    with pytest.raises(DataGateFailed) as err:
        require_pass(result)
    assert failure.table in str(err.value) and str(err.value.hint).endswith("result.json")
    assert json.loads(Path(result.result_json).read_text())["passed"] is False
    if fault == "renamed_column":
        assert "itemId" in failure.detail


def test_the_fault_does_not_fail_the_days_before(config, spark, tmp_path) -> None:
    root = tmp_path / "data"
    simulate(root, days=5, scale="tiny", seed=11, start=START, faults={"retyped_column": "5"})
    before = validate_partition(root, FAULT_DAY - timedelta(days=1), config, spark,
                                reports_dir=tmp_path)
    assert before.passed, before.summary()


@pytest.mark.parametrize("damage", ["corrupt", "empty", "no_marker"])
def test_corrupt_empty_or_unfinished_partition_fails_cleanly(damage, tiny_market, config, spark,
                                                             tmp_path) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_market, root)
    part = partition_path(root, "events", FAULT_DAY)
    data_file = part / "part-0.parquet"
    if damage == "corrupt":
        data_file.write_bytes(data_file.read_bytes()[:200])
    elif damage == "empty":
        data_file.write_bytes(b"")
    else:
        (part / "_SUCCESS").unlink()
    result = validate_partition(root, FAULT_DAY, config, spark, reports_dir=tmp_path)
    rules = {(c.table, c.rule) for c in result.failures}
    expected = ("events", "partition_complete") if damage == "no_marker" else ("events", "readable")
    assert expected in rules, result.summary()
    # The other tables are still checked and summarised.
    assert Path(result.report_html).exists()
