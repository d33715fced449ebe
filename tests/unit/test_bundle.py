"""Export bundles: every serving part, digests, parity gate, atomic re-export, MLflow logging."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from rankct.digests import sha256_file
from rankct.export.bundle import ExportBundle, ExportParityFailed, export_bundle, log_bundle
from rankct.export.onnx_model import feature_names_of
from rankct.export.triton import read_triton_config

FEATURES = ["price", "item_ctr_7d", "age_days", "seller_rating", "user_ctr_7d",
            "price_to_user_median"]
N_REQUESTS, PER_REQUEST = 120, 10


def make_data(seed: int = 3) -> pd.DataFrame:
    """Requests of graded items with 5% missing values, as held-out rows with a request_id."""
    rng = np.random.default_rng(seed)
    n = N_REQUESTS * PER_REQUEST
    X = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    frame = pd.DataFrame(X, columns=FEATURES)
    frame.insert(0, "request_id", np.repeat([f"r{i:04d}" for i in range(N_REQUESTS)], PER_REQUEST))
    utility = np.nan_to_num(X[:, 0] - X[:, 1] + X[:, 4] * X[:, 2])
    frame["grade"] = np.digitize(utility + rng.normal(scale=0.3, size=n), [0.5, 1.5]).astype(float)
    return frame


def make_booster(frame: pd.DataFrame, features: list[str] = FEATURES) -> xgb.Booster:
    codes = pd.factorize(frame["request_id"])[0]
    dtrain = xgb.DMatrix(frame[features], label=frame["grade"], qid=codes, missing=np.nan)
    return xgb.train({"objective": "rank:ndcg", "max_depth": 4, "eta": 0.3, "nthread": 1,
                      "seed": 0}, dtrain, num_boost_round=20)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_data()


@pytest.fixture(scope="module")
def booster(frame) -> xgb.Booster:
    return make_booster(frame)


@pytest.fixture(scope="module")
def bundle(booster, frame, tmp_path_factory) -> ExportBundle:
    return export_bundle(booster, FEATURES, frame, tmp_path_factory.mktemp("exports"), version=3)


def test_bundle_has_every_part(bundle, booster) -> None:
    root = bundle.root
    assert root.name == "3" and bundle.version == 3
    assert {p.name for p in root.iterdir()} == {
        "model.onnx", "model.onnx.sha256", "golden.parquet", "parity.json", "vespa-app",
        "vespa-app.zip", "triton", "manifest.json"}
    assert not any(p.name.startswith(".tmp-") for p in root.parent.iterdir())
    assert bundle.onnx_sha256 == sha256_file(root / "model.onnx")
    assert (root / "model.onnx.sha256").read_text() == f"{bundle.onnx_sha256}  model.onnx\n"
    assert feature_names_of(root / "model.onnx") == FEATURES == list(booster.feature_names)
    parity = json.loads((root / "parity.json").read_text())
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-4 and parity["n_requests"] == 64
    golden = pd.read_parquet(root / "golden.parquet")
    assert list(golden.columns) == ["request_id", *FEATURES] and golden[FEATURES].isna().any().any()
    with zipfile.ZipFile(root / "vespa-app.zip") as zf:
        names = set(zf.namelist())
        assert {"services.xml", "schemas/item.sd", "models/ranker.onnx"} <= names
        assert hashlib.sha256(zf.read("models/ranker.onnx")).hexdigest() == bundle.onnx_sha256
    triton = root / "triton" / "marketplace_ranker"
    assert read_triton_config(triton)["inputs"][0]["dims"] == [len(FEATURES)]
    assert sha256_file(triton / "3" / "model.onnx") == bundle.onnx_sha256
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["files"]["triton/marketplace_ranker/3/model.onnx"] == bundle.onnx_sha256
    assert all(manifest["files"][rel] == sha256_file(root / rel) for rel in manifest["files"])
    assert ExportBundle.load(root) == bundle


def test_reexport_replaces_the_version_with_the_same_model(bundle, booster, frame) -> None:
    again = export_bundle(booster, FEATURES, frame, bundle.root.parent, version=3)
    assert again.onnx_sha256 == bundle.onnx_sha256
    assert sorted(p.name for p in bundle.root.parent.iterdir()) == ["3"]


def test_failed_parity_publishes_nothing(booster, frame, tmp_path, monkeypatch) -> None:
    import rankct.export.bundle as bundle_module
    from rankct.export.onnx_model import to_onnx

    # A converter that exports another model (here: one trained on other data) must be caught.
    other = make_booster(make_data(seed=99))
    monkeypatch.setattr(bundle_module, "to_onnx", lambda _booster, names: to_onnx(other, names))
    with pytest.raises(ExportParityFailed) as caught:
        export_bundle(booster, FEATURES, frame, tmp_path, version=1)
    assert caught.value.exit_code == 3 and not caught.value.report.passed
    assert "exceeds atol" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_golden_frame_must_carry_request_ids_and_features(booster, frame, tmp_path) -> None:
    from rankct.errors import RankctError

    with pytest.raises(RankctError, match="request_id"):
        export_bundle(booster, FEATURES, frame.drop(columns="request_id"), tmp_path, version=1)
    with pytest.raises(RankctError, match="user_ctr_7d"):
        export_bundle(booster, FEATURES, frame.drop(columns="user_ctr_7d"), tmp_path, version=1)


def test_log_bundle_to_mlflow_onnx_flavour(bundle, tmp_path) -> None:
    import mlflow
    import onnx

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # An explicit artifact location: MLflow's default is ./mlruns in the working directory.
    mlflow.create_experiment("bundle-test", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment("bundle-test")
    try:
        with mlflow.start_run() as run:
            logged = log_bundle(bundle)
        assert logged["onnx_sha256"] == bundle.onnx_sha256 and logged["run_id"] == run.info.run_id
        assert mlflow.get_run(run.info.run_id).data.tags["onnx_sha256"] == bundle.onnx_sha256
        model = mlflow.onnx.load_model(logged["model_uri"])
        assert hashlib.sha256(model.SerializeToString()).hexdigest() == bundle.onnx_sha256
        assert isinstance(model, onnx.ModelProto)
        files = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/export/3",
                                                    dst_path=str(tmp_path / "dl"))
        assert sha256_file(Path(files) / "vespa-app.zip") == sha256_file(bundle.vespa_zip)
        assert (Path(files) / "triton" / "marketplace_ranker" / "config.pbtxt").exists()
    finally:
        mlflow.set_tracking_uri(None)
