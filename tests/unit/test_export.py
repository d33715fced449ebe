"""Export of XGBoost rankers: ONNX conversion, parity with the booster, Vespa and Triton."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import xgboost as xgb
from rankct.digests import sha256_file
from rankct.errors import RankctError
from rankct.export.onnx_model import (
    feature_names_of,
    onnx_session,
    save_onnx,
    to_onnx,
)
from rankct.export.parity import GoldenSet, check_parity, golden_set
from rankct.export.triton import NUMPY_TYPES, read_triton_config, triton_repository
from rankct.export.vespa import package_inputs, vespa_package

FEATURES = ["price", "item_ctr_7d", "item_age_days", "seller_rating", "user_ctr_7d",
            "user_price_affinity"]
ITEM_FIELDS = {"price": "double", "item_ctr_7d": "double", "item_age_days": "double",
               "seller_rating": "double", "category": "string"}
N_REQUESTS, PER_REQUEST, N_TRAIN_REQUESTS, N_TREES = 300, 12, 240, 25
VARIANTS = {
    "ndcg": {"objective": "rank:ndcg"},
    "pairwise": {"objective": "rank:pairwise"},
    "unbiased": {"objective": "rank:ndcg", "lambdarank_unbiased": True},
    "base_score": {"objective": "rank:ndcg", "base_score": 0.3},
}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic requests: features with 8% missing, graded relevance from a noisy utility."""
    rng = np.random.default_rng(7)
    n = N_REQUESTS * PER_REQUEST
    X = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    X[rng.random(X.shape) < 0.08] = np.nan
    qid = np.repeat(np.arange(N_REQUESTS), PER_REQUEST)
    f = np.nan_to_num(X)
    utility = f[:, 0] - 0.5 * f[:, 1] + f[:, 4] * f[:, 2] + rng.normal(scale=0.5, size=n)
    return X, qid, np.digitize(utility, [0.5, 1.5, 2.5]).astype(np.float32)


@pytest.fixture(scope="module")
def boosters(data) -> dict[str, xgb.Booster]:
    X, qid, y = data
    train = qid < N_TRAIN_REQUESTS
    dtrain = xgb.DMatrix(X[train], label=y[train], qid=qid[train], feature_names=FEATURES,
                         missing=np.nan)
    return {name: xgb.train({**params, "max_depth": 4, "eta": 0.3, "nthread": 2, "seed": 0},
                            dtrain, num_boost_round=N_TREES)
            for name, params in VARIANTS.items()}


@pytest.fixture(scope="module")
def golden(data) -> GoldenSet:
    X, qid, _ = data
    held_out = qid >= N_TRAIN_REQUESTS
    return golden_set(X[held_out], qid[held_out], n_requests=40, seed=1)


@pytest.fixture(scope="module")
def exported(boosters, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name, booster in boosters.items():
        paths[name] = out / f"{name}.onnx"
        assert save_onnx(to_onnx(booster, FEATURES), paths[name]) == sha256_file(paths[name])
    return paths


def _native(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    dmatrix = xgb.DMatrix(X, feature_names=FEATURES, missing=np.nan)
    return booster.predict(dmatrix, output_margin=True)


def _tampered(path: Path, out: Path, change) -> Path:
    """A copy of the ONNX file after ``change(model)`` edits it in place."""
    model = onnx.load(str(path))
    change(model)
    out.write_bytes(model.SerializeToString())
    return out


def _attribute(model: onnx.ModelProto, name: str) -> onnx.AttributeProto:
    (ensemble,) = [n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor"]
    return next(a for a in ensemble.attribute if a.name == name)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_parity_holds_for_every_objective(variant, boosters, exported, golden) -> None:
    assert np.isnan(golden.X).any()
    report = check_parity(boosters[variant], exported[variant], golden.X, golden.request_ids,
                          FEATURES)
    assert report.passed, report.reasons
    assert report.max_abs_diff <= 1e-4
    assert report.order_mismatches == 0 and report.feature_order_ok
    assert (report.n_rows, report.n_requests) == (len(golden.X), 40)
    assert report.as_dict()["reasons"] == []


def test_onnx_model_signature_and_metadata(boosters, exported) -> None:
    model = onnx.load(str(exported["base_score"]))
    meta = {p.key: p.value for p in model.metadata_props}
    assert feature_names_of(exported["base_score"]) == FEATURES == json.loads(meta["feature_names"])
    assert meta["objective"] == "rank:ndcg" and meta["n_trees"] == str(N_TREES)
    assert meta["xgboost_version"] == xgb.__version__
    # The base score sits in the ensemble itself, not in post-processing.
    assert float(meta["base_score"]) == pytest.approx(0.3)
    assert list(_attribute(model, "base_values").floats) == pytest.approx([0.3])
    session = onnx_session(exported["base_score"], threads=1)
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, inp.type) == ("features", [None, len(FEATURES)], "tensor(float)")
    assert (out.name, out.shape) == ("score", [None, 1])


def test_export_refuses_a_feature_list_in_another_order(boosters) -> None:
    with pytest.raises(RankctError, match="feature"):
        to_onnx(boosters["ndcg"], FEATURES[::-1])


def test_golden_set_keeps_whole_requests_and_adds_missing_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    ids = np.repeat(np.arange(20), 10)
    golden = golden_set(X, ids, n_requests=5, n_missing_rows=6, seed=3)
    chosen = np.unique(golden.request_ids)
    assert len(chosen) == 5
    assert len(golden.X) == 5 * 10 + 6
    assert np.isnan(golden.X).any() and np.isnan(golden.X).all(axis=1).any()
    complete = golden.X[~np.isnan(golden.X).any(axis=1)]
    assert {tuple(r) for r in complete} == {tuple(r) for r in X[np.isin(ids, chosen)]}


@pytest.mark.parametrize("where", ["leaf", "threshold"])
def test_tampered_trees_fail_with_the_max_difference(where, boosters, exported, golden,
                                                     tmp_path) -> None:
    def change(model: onnx.ModelProto) -> None:
        if where == "leaf":
            attr = _attribute(model, "target_weights")
            attr.floats[:] = [w + 0.5 for w in attr.floats]
        else:
            # Every root split of every tree sends all non-missing values left.
            attr = _attribute(model, "nodes_values")
            ids = list(_attribute(model, "nodes_nodeids").ints)
            attr.floats[:] = [1e9 if i == 0 else v for i, v in zip(ids, attr.floats, strict=True)]

    path = _tampered(exported["ndcg"], tmp_path / "tampered.onnx", change)
    report = check_parity(boosters["ndcg"], path, golden.X, golden.request_ids, FEATURES)
    assert not report.passed and report.max_abs_diff > 1e-4
    assert any("max |onnx - native|" in r for r in report.reasons), report.reasons


@pytest.mark.parametrize("payload", ["garbage", "truncated"])
def test_unloadable_onnx_fails_with_a_reason(payload, boosters, exported, golden) -> None:
    data = exported["ndcg"].read_bytes()
    broken = b"\x08\x07garbage" * 50 if payload == "garbage" else data[: len(data) // 2]
    report = check_parity(boosters["ndcg"], broken, golden.X, golden.request_ids, FEATURES)
    assert not report.passed
    assert report.reasons and "unusable" in report.reasons[0]


def test_wrong_feature_order_fails(boosters, exported, golden, tmp_path) -> None:
    def reorder(model: onnx.ModelProto) -> None:
        onnx.helper.set_model_props(model, {"feature_names": json.dumps(FEATURES[::-1])})

    path = _tampered(exported["ndcg"], tmp_path / "reordered.onnx", reorder)
    report = check_parity(boosters["ndcg"], path, golden.X, golden.request_ids, FEATURES)
    assert not report.passed and not report.feature_order_ok
    assert any("feature order" in r for r in report.reasons)
    # Expecting another column order than the booster's fails too, before any scoring.
    report = check_parity(boosters["ndcg"], exported["ndcg"], golden.X[:, ::-1],
                          golden.request_ids, FEATURES[::-1])
    assert not report.passed and not report.feature_order_ok


def _dump_margin(trees: list[dict[str, Any]], base_score: float, x: np.ndarray) -> float:
    """What Vespa's xgboost() plus the schema's base_score computes for one row."""
    names = {name: i for i, name in enumerate(FEATURES)}
    total = base_score
    for node in trees:
        while "leaf" not in node:
            value = x[names[node["split"]]]
            nxt = node["missing"] if np.isnan(value) else (
                node["yes"] if value < node["split_condition"] else node["no"])
            node = next(c for c in node["children"] if c["nodeid"] == nxt)
        total += node["leaf"]
    return total


@pytest.mark.parametrize("item_fields", [ITEM_FIELDS, None], ids=["explicit", "default-rule"])
def test_vespa_package(item_fields, boosters, exported, golden, tmp_path) -> None:
    booster = boosters["base_score"]
    zip_path = vespa_package(exported["base_score"], booster, FEATURES, tmp_path,
                             item_fields=item_fields)
    assert zip_path == tmp_path / "vespa-app.zip" and (tmp_path / "vespa-app").is_dir()
    with zipfile.ZipFile(zip_path) as zf:
        assert {"services.xml", "schemas/item.sd", "models/ranker.onnx",
                "models/ranker.json"} <= set(zf.namelist())
        services = ET.fromstring(zf.read("services.xml"))
        sd = zf.read("schemas/item.sd").decode()
        trees = json.loads(zf.read("models/ranker.json"))
        assert zf.read("models/ranker.onnx") == exported["base_score"].read_bytes()

    content = services.find("content")
    assert content.get("id") == "marketplace" and content.findtext("min-redundancy") == "1"
    assert content.find("documents/document").get("type") == "item"
    assert services.find("container/search") is not None
    assert services.find("container/document-api") is not None

    inputs = package_inputs(tmp_path / "vespa-app")
    assert inputs["features"] == FEATURES and inputs["unmapped"] == []
    assert sorted(inputs["query_inputs"]) == ["user_ctr_7d", "user_price_affinity"]
    for feature, cell in zip(inputs["features"], inputs["cells"], strict=True):
        source = "query" if feature.startswith("user_") else "attribute"
        assert cell == f"{source}({feature})"
        assert feature in inputs["query_inputs" if source == "query" else "attributes"]
    assert "item_id" in inputs["attributes"]

    assert re.search(r"onnx-model ranker \{\s*file: models/ranker.onnx", sd)
    assert "rank-profile ranker {" in sd and "sum(onnx(ranker).score)" in sd
    assert "rank-profile ranker_xgboost {" in sd and 'xgboost("ranker.json") + base_score' in sd
    # The dump plus the schema's constant reproduces the booster's margin, base score included.
    base_score = float(re.search(r"base_score: (\S+)", sd).group(1))
    assert len(trees) == N_TREES
    vespa_scores = [_dump_margin(trees, base_score, x) for x in golden.X[:50]]
    np.testing.assert_allclose(vespa_scores, _native(booster, golden.X[:50]), atol=1e-4, rtol=0)


def test_vespa_package_refuses_a_model_exported_for_other_features(boosters, exported,
                                                                    tmp_path) -> None:
    with pytest.raises(RankctError, match="another feature list"):
        vespa_package(exported["ndcg"], boosters["ndcg"], FEATURES[::-1], tmp_path)


def test_triton_repository_scores_like_xgboost(boosters, exported, golden, tmp_path) -> None:
    model_dir = triton_repository(exported["pairwise"], tmp_path, max_batch_size=64,
                                  preferred_batch_sizes=(8, 32, 64), max_queue_delay_us=100)
    assert (model_dir / "1" / "model.onnx").is_file()
    config = read_triton_config(model_dir / "config.pbtxt")
    assert config["name"] == "marketplace_ranker" and config["platform"] == "onnxruntime_onnx"
    assert config["max_batch_size"] == 64 and config["preferred_batch_sizes"] == [8, 32, 64]
    assert config["max_queue_delay_us"] == 100 and config["instance_kind"] == "KIND_CPU"
    (inp,), (out,) = config["inputs"], config["outputs"]
    assert inp["dims"] == [len(FEATURES)] and out["dims"] == [1]

    session = onnx_session(model_dir / "1" / "model.onnx")
    X = golden.X.astype(NUMPY_TYPES[inp["data_type"]])
    native = _native(boosters["pairwise"], golden.X)
    for size in config["preferred_batch_sizes"]:
        assert size <= config["max_batch_size"]
        for start in range(0, len(X), size):
            batch = X[start:start + size]
            (scores,) = session.run([out["name"]], {inp["name"]: batch})
            assert scores.shape == (len(batch), *out["dims"])
            assert scores.dtype == NUMPY_TYPES[out["data_type"]]
            np.testing.assert_allclose(scores[:, 0], native[start:start + size], atol=1e-4, rtol=0)


def test_triton_refuses_preferred_batches_above_the_maximum(exported, tmp_path) -> None:
    with pytest.raises(RankctError, match="preferred batch sizes"):
        triton_repository(exported["ndcg"], tmp_path, max_batch_size=16,
                          preferred_batch_sizes=(8, 32))
