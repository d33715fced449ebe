"""XGBoost ranker to ONNX: one TreeEnsembleRegressor that returns the raw ranking margin.

onnxmltools converts XGBRegressor/XGBClassifier but not rankers, and its converter reads the text
dump (feature names must look like ``f0``) and cuts the forest at ``best_iteration``, while
``Booster.predict`` scores with every tree. So the trees are taken from the booster's own JSON
model (exact float32 thresholds and leaves) and written as ``ai.onnx.ml.TreeEnsembleRegressor``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
import xgboost as xgb
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper

from rankct.errors import RankctError
from rankct.io import atomic_file

INPUT_NAME = "features"
OUTPUT_NAME = "score"
# Triton and Vespa bundle older onnxruntime builds than the onnx package here targets by default:
# pin an IR version and opsets that every onnxruntime since 1.14 reads.
IR_VERSION = 8
OPSET = 17
ML_OPSET = 3
# Objectives whose margin is the plain sum of the trees plus base_score (no link function).
IDENTITY_OBJECTIVES = ("rank:", "reg:squarederror")

ModelSource = onnx.ModelProto | bytes | str | Path

_NODE_ATTRIBUTES = (
    "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
    "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
    "target_treeids", "target_nodeids", "target_ids", "target_weights",
)


def to_onnx(booster: xgb.Booster, feature_names: list[str]) -> onnx.ModelProto:
    """Convert a gbtree ranker to ONNX: ``features`` [batch, n] float32 in, ``score`` [batch, 1].

    ``score`` equals ``booster.predict(DMatrix, output_margin=True)``: the sum of the trees plus the
    margin base score. NaN is missing and follows each split's default direction, as in XGBoost.
    """
    learner = json.loads(booster.save_raw("json"))["learner"]
    objective = learner["objective"]["name"]
    if not objective.startswith(IDENTITY_OBJECTIVES):
        raise RankctError(f"cannot export objective {objective!r} as a raw-margin ONNX model",
                          hint="export supports rank:* and reg:squarederror boosters")
    if learner["gradient_booster"]["name"] != "gbtree":
        raise RankctError(f"cannot export booster type {learner['gradient_booster']['name']!r}",
                          hint="train with booster='gbtree'")
    names = list(feature_names)
    n_features = int(learner["learner_model_param"]["num_feature"])
    if booster.feature_names is not None and list(booster.feature_names) != names:
        raise RankctError("feature_names differ from the booster's feature names (or their order)",
                          hint="pass booster.feature_names: ONNX inputs are positional")
    if len(names) != n_features:
        raise RankctError(f"{len(names)} feature names for a booster with {n_features} features")

    base_score = margin_base_score(booster)
    trees = learner["gradient_booster"]["model"]["trees"]
    ensemble = helper.make_node(
        "TreeEnsembleRegressor", [INPUT_NAME], [OUTPUT_NAME], domain="ai.onnx.ml", name="ranker",
        n_targets=1, aggregate_function="SUM", post_transform="NONE", base_values=[base_score],
        **_tree_attributes(trees))
    graph = helper.make_graph(
        [ensemble], "rankct_ranker",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(
        graph, producer_name="rankct", ir_version=IR_VERSION,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    helper.set_model_props(model, {
        "feature_names": json.dumps(names), "objective": objective,
        "base_score": repr(base_score), "xgboost_version": xgb.__version__,
        "n_trees": str(len(trees)),
    })
    onnx.checker.check_model(model)
    return model


def margin_base_score(booster: xgb.Booster) -> float:
    """The constant XGBoost adds to the sum of the trees for the margin of an identity-link booster.

    XGBoost 3.x stores base_score as a vector string such as ``"[3E-1]"``, 2.x as ``"0.3"``; for
    rank and squared-error objectives the margin base is base_score itself (no logit transform).
    """
    raw = json.loads(booster.save_config())["learner"]["learner_model_param"]["base_score"]
    values = json.loads(raw) if raw.strip().startswith("[") else [float(raw)]
    if len(values) != 1:
        raise RankctError(f"booster has {len(values)} base scores; only single-output ones export",
                          hint="train one ranking target per booster")
    return float(values[0])


def _tree_attributes(trees: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """TreeEnsembleRegressor node and leaf attributes for the nodes reachable from each root."""
    attrs: dict[str, list[Any]] = {name: [] for name in _NODE_ATTRIBUTES}
    for tree_id, tree in enumerate(trees):
        if any(tree.get("split_type", [])):
            raise RankctError("the booster has categorical splits, which the export does not map",
                              hint="integer-encode categorical features before training")
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
            raise RankctError("the booster has vector leaves; only single-output models export")
        left, right = tree["left_children"], tree["right_children"]
        # Walk from the root rather than over the arrays: pruned nodes stay in them, unreachable.
        stack = [0]
        while stack:
            node = stack.pop()
            value = float(tree["split_conditions"][node])
            attrs["nodes_treeids"].append(tree_id)
            attrs["nodes_nodeids"].append(node)
            if left[node] == -1:
                # A leaf: XGBoost keeps its weight in split_conditions.
                attrs["nodes_featureids"].append(0)
                attrs["nodes_modes"].append("LEAF")
                attrs["nodes_values"].append(0.0)
                attrs["nodes_truenodeids"].append(0)
                attrs["nodes_falsenodeids"].append(0)
                attrs["nodes_missing_value_tracks_true"].append(0)
                attrs["target_treeids"].append(tree_id)
                attrs["target_nodeids"].append(node)
                attrs["target_ids"].append(0)
                attrs["target_weights"].append(value)
            else:
                # XGBoost goes left when value < threshold, and left on NaN when default_left.
                attrs["nodes_featureids"].append(int(tree["split_indices"][node]))
                attrs["nodes_modes"].append("BRANCH_LT")
                attrs["nodes_values"].append(value)
                attrs["nodes_truenodeids"].append(left[node])
                attrs["nodes_falsenodeids"].append(right[node])
                attrs["nodes_missing_value_tracks_true"].append(int(tree["default_left"][node]))
                stack += [left[node], right[node]]
    return attrs


def save_onnx(model: onnx.ModelProto, path: Path | str) -> str:
    """Write ``model`` through a temporary sibling and a rename; return the sha256 of the bytes."""
    data = model.SerializeToString()
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def load_onnx(source: ModelSource) -> onnx.ModelProto:
    """The ModelProto of a path, serialized bytes or model; RankctError when it does not parse."""
    if isinstance(source, onnx.ModelProto):
        return source
    try:
        if isinstance(source, bytes):
            return onnx.load_model_from_string(source)
        return onnx.load(str(source))
    except (DecodeError, OSError) as exc:
        raise RankctError(f"not a readable ONNX model: {exc}") from exc


def feature_names_of(model_or_path: ModelSource) -> list[str]:
    """The input column order stored in the model's ``feature_names`` metadata."""
    props = {p.key: p.value for p in load_onnx(model_or_path).metadata_props}
    try:
        names = json.loads(props["feature_names"])
    except (KeyError, ValueError) as exc:
        raise RankctError("the ONNX model has no readable feature_names metadata",
                          hint="export it with rankct.export.onnx_model.to_onnx") from exc
    return [str(name) for name in names]


def onnx_session(path_or_bytes: ModelSource, threads: int | None = None) -> ort.InferenceSession:
    """A CPU onnxruntime session set up for low-latency tree scoring.

    ``threads`` sets intra-op threads (None: onnxruntime's default, one per core). Raises
    RankctError when the model does not load, whatever onnxruntime's own exception type.
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The graph is a single tree-ensemble node: parallel execution across nodes only adds overhead.
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 0 if threads is None else threads
    source = path_or_bytes
    if isinstance(source, onnx.ModelProto):
        source = source.SerializeToString()
    elif isinstance(source, Path):
        source = str(source)
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises a pybind type per case (InvalidProtobuf, Fail...)
        raise RankctError(f"onnxruntime cannot load the model: {exc}") from exc
