"""serve-check loads a bundle as Triton and Vespa would and compares with the native booster."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import onnx
import pytest
import xgboost as xgb
from rankct.cli import main
from rankct.errors import RankctError
from rankct.export.bundle import ExportBundle, export_bundle
from rankct.export.serve_check import serve_check

from tests.unit.test_bundle import FEATURES, make_booster, make_data


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[ExportBundle, xgb.Booster, Path]:
    frame = make_data(seed=5)
    booster = make_booster(frame)
    root = tmp_path_factory.mktemp("serve")
    booster.save_model(str(root / "booster.json"))
    return export_bundle(booster, FEATURES, frame, root / "exports", version=2), booster, root


@pytest.fixture
def copy(exported, tmp_path) -> Path:
    """A private copy of the bundle to tamper with."""
    return Path(shutil.copytree(exported[0].root, tmp_path / "2"))


def _edit_onnx(path: Path, change) -> None:
    model = onnx.load(str(path))
    change(model)
    path.write_bytes(model.SerializeToString())


def _scale_leaves(model: onnx.ModelProto) -> None:
    (node,) = model.graph.node
    weights = next(a for a in node.attribute if a.name == "target_weights")
    weights.floats[:] = [w * 1.5 for w in weights.floats]


def _swap_feature_names(model: onnx.ModelProto) -> None:
    """The metadata claims another column order than the trees read: a mis-wired export."""
    prop = next(p for p in model.metadata_props if p.key == "feature_names")
    names = json.loads(prop.value)
    names[0], names[4] = names[4], names[0]
    prop.value = json.dumps(names)


def _rezip(app: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(p for p in app.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(app).as_posix())


def test_good_bundle_passes_on_both_servers(exported) -> None:
    bundle, booster, _ = exported
    report = serve_check(bundle.root, booster)
    assert report.passed, report.summary()
    assert [c.server for c in report.checks] == ["triton", "vespa"]
    for check in report.checks:
        assert check.max_abs_diff <= 1e-4 and check.order_mismatches == 0
        assert check.n_requests == 64 and check.n_rows >= 64
    assert "PASSED" in report.summary()


def test_tampered_triton_model_fails(exported, copy) -> None:
    _edit_onnx(copy / "triton" / "marketplace_ranker" / "2" / "model.onnx", _scale_leaves)
    report = serve_check(copy, exported[1])
    triton, vespa = report.checks
    assert not report.passed and not triton.passed and vespa.passed
    assert any("exceeds 0.0001" in r for r in triton.reasons)
    assert any("sha256" in r for r in triton.reasons)


def test_wrong_feature_order_in_the_vespa_package_fails(exported, copy) -> None:
    app = copy / "vespa-app"
    _edit_onnx(app / "models" / "ranker.onnx", _swap_feature_names)
    # The schema is rewritten to match the (wrong) metadata, so only the scores can tell.
    schema = app / "schemas" / "item.sd"
    text = schema.read_text()
    schema.write_text(text.replace("attribute(price), attribute(item_ctr_7d), attribute(age_days), "
                                   "attribute(seller_rating), query(user_ctr_7d)",
                                   "query(user_ctr_7d), attribute(item_ctr_7d), attribute(age_days), "
                                   "attribute(seller_rating), attribute(price)"))
    assert schema.read_text() != text
    _rezip(app, copy / "vespa-app.zip")
    report = serve_check(copy, exported[1])
    vespa = report.checks[1]
    assert not report.passed and report.checks[0].passed and not vespa.passed
    assert any("exceeds" in r for r in vespa.reasons)
    assert vespa.order_mismatches > 0


def test_booster_with_other_features_is_refused(exported, copy) -> None:
    frame = make_data(seed=5).rename(columns={"price": "list_price"})
    other = make_booster(frame, ["list_price", *FEATURES[1:]])
    with pytest.raises(RankctError, match="list_price"):
        serve_check(copy, other)


def test_cli_exit_codes(exported, copy, capsys) -> None:
    bundle, _, root = exported
    assert main(["serve-check", "--bundle", str(bundle.root), "--model",
                 str(root / "booster.json")]) == 0
    assert "PASSED" in capsys.readouterr().out
    _edit_onnx(copy / "triton" / "marketplace_ranker" / "2" / "model.onnx", _scale_leaves)
    assert main(["serve-check", "--bundle", str(copy), "--model", str(root / "booster.json"),
                 "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False and out["checks"][0]["server"] == "triton"
    assert main(["serve-check", "--bundle", str(copy), "--model", str(root / "missing.json")]) == 2
    assert "no booster file" in capsys.readouterr().err
