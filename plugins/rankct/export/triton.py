"""A Triton model repository that serves the ONNX ranker with the onnxruntime backend on CPU.

Layout: ``<out>/<model_name>/config.pbtxt`` and ``<out>/<model_name>/<version>/model.onnx``. With
``max_batch_size > 0`` Triton's dims leave out the batch dimension and Triton stacks requests along
it, so the ONNX model's first dimension must be dynamic (``to_onnx`` writes it so).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from rankct.errors import RankctError
from rankct.export.onnx_model import load_onnx
from rankct.io import atomic_dir

# ONNX element types this export writes, and the Triton and numpy types they map to.
TRITON_TYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.DOUBLE: "TYPE_FP64"}
NUMPY_TYPES = {"TYPE_FP32": np.float32, "TYPE_FP64": np.float64}


def triton_repository(onnx_path: Path | str, out_dir: Path | str,
                      model_name: str = "marketplace_ranker", version: int = 1,
                      max_batch_size: int = 256,
                      preferred_batch_sizes: Sequence[int] = (32, 64, 128),
                      max_queue_delay_us: int = 200, instances: int = 1,
                      intra_op_threads: int = 1) -> Path:
    """Write the model folder for ``onnx_path`` under ``out_dir`` (replacing it) and return it.

    Dynamic batching waits up to ``max_queue_delay_us`` to fill a preferred batch size; each of
    ``instances`` CPU instances scores a batch on ``intra_op_threads`` threads, so concurrency
    comes from instances rather than from threads inside a small tree-ensemble call.
    """
    model = load_onnx(onnx_path)
    if max_batch_size <= 0 or version <= 0:
        raise RankctError("max_batch_size and version must be positive",
                          hint="Triton batching needs max_batch_size > 0")
    too_big = [b for b in preferred_batch_sizes if not 0 < b <= max_batch_size]
    if too_big:
        raise RankctError(f"preferred batch sizes {too_big} are outside 1..{max_batch_size}")
    inputs = [_tensor(v, "input") for v in model.graph.input]
    outputs = [_tensor(v, "output") for v in model.graph.output]
    sizes = ", ".join(str(b) for b in preferred_batch_sizes)
    config = "\n".join([
        f'name: "{model_name}"',
        'platform: "onnxruntime_onnx"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
        f"input [\n{_entries(inputs)}\n]",
        f"output [\n{_entries(outputs)}\n]",
        f"dynamic_batching {{\n  preferred_batch_size: [ {sizes} ]",
        f"  max_queue_delay_microseconds: {max_queue_delay_us}\n}}",
        f"instance_group [\n  {{\n    count: {instances}\n    kind: KIND_CPU\n  }}\n]",
        # The backend turns on every onnxruntime graph optimisation by default, so no optimization
        # block; threads only. execution_mode 0 is sequential: the graph is a single node.
        *(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}'
          for key, value in [("intra_op_thread_count", intra_op_threads),
                             ("inter_op_thread_count", 1), ("execution_mode", 0)]),
    ]) + "\n"
    with atomic_dir(Path(out_dir) / model_name) as folder:
        (folder / "config.pbtxt").write_text(config)
        (folder / str(version)).mkdir()
        (folder / str(version) / "model.onnx").write_bytes(model.SerializeToString())
    return Path(out_dir) / model_name


def _tensor(value: onnx.ValueInfoProto, kind: str) -> dict[str, Any]:
    """Name, Triton type and dims without the batch dimension of one graph input or output."""
    tensor_type = value.type.tensor_type
    dims = list(tensor_type.shape.dim)
    if tensor_type.elem_type not in TRITON_TYPES:
        raise RankctError(f"{kind} {value.name!r} has ONNX element type {tensor_type.elem_type}, "
                          f"not one of {sorted(TRITON_TYPES.values())}")
    dynamic_batch = bool(dims) and not dims[0].HasField("dim_value")
    if not dynamic_batch or not all(d.HasField("dim_value") for d in dims[1:]):
        raise RankctError(f"{kind} {value.name!r} needs a dynamic first (batch) dimension and "
                          "fixed others for Triton batching", hint="export with rankct's to_onnx")
    return {"name": value.name, "data_type": TRITON_TYPES[tensor_type.elem_type],
            "dims": [d.dim_value for d in dims[1:]]}


def _entries(tensors: list[dict[str, Any]]) -> str:
    return ",\n".join(
        f'  {{\n    name: "{t["name"]}"\n    data_type: {t["data_type"]}\n'
        f'    dims: [ {", ".join(str(d) for d in t["dims"])} ]\n  }}' for t in tensors)


def read_triton_config(path: Path | str) -> dict[str, Any]:
    """Parse the fields :func:`triton_repository` writes from a config.pbtxt or its model folder.

    Returns ``name``, ``platform``, ``backend``, ``max_batch_size``, ``inputs`` and ``outputs``
    (lists of ``name``/``data_type``/``dims``), ``preferred_batch_sizes``, ``max_queue_delay_us``,
    ``instance_kind`` and ``instance_count``. Not a general protobuf text parser.
    """
    path = Path(path)
    text = (path / "config.pbtxt" if path.is_dir() else path).read_text()

    def scalar(key: str, nested: bool = False) -> str:
        indent = r"\s*" if nested else ""  # top-level keys only, not the names of tensors
        match = re.search(rf'^{indent}{key}:\s*"?([^"\n]+?)"?\s*$', text, re.MULTILINE)
        if match is None:
            raise RankctError(f"{path}: no {key} in the Triton config")
        return match.group(1)

    def tensors(section: str) -> list[dict[str, Any]]:
        block = re.search(rf"^{section}\s*\[(.*?)^\]", text, re.MULTILINE | re.DOTALL)
        if block is None:
            raise RankctError(f"{path}: no {section} section in the Triton config")
        return [{"name": re.search(r'name:\s*"([^"]+)"', entry).group(1),
                 "data_type": re.search(r"data_type:\s*(\w+)", entry).group(1),
                 "dims": [int(d) for d in re.findall(r"-?\d+", re.search(r"dims:\s*\[([^\]]*)\]",
                                                                         entry).group(1))]}
                for entry in re.findall(r"\{(.*?)\}", block.group(1), re.DOTALL)]

    sizes = re.search(r"preferred_batch_size:\s*\[([^\]]*)\]", text)
    preferred = [int(b) for b in re.findall(r"\d+", sizes.group(1))] if sizes else []
    return {
        "name": scalar("name"), "platform": scalar("platform"), "backend": scalar("backend"),
        "max_batch_size": int(scalar("max_batch_size")),
        "inputs": tensors("input"), "outputs": tensors("output"),
        "preferred_batch_sizes": preferred,
        "max_queue_delay_us": int(scalar("max_queue_delay_microseconds", nested=True)),
        "instance_kind": scalar("kind", nested=True),
        "instance_count": int(scalar("count", nested=True)),
    }
