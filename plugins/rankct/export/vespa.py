"""A Vespa application package that ranks items with the exported model.

Two rank profiles score the same model: ``<rank_profile>`` evaluates the ONNX file, and
``<rank_profile>_xgboost`` Vespa's native evaluation of the XGBoost JSON dump (a fallback, and a
cross-check of the ONNX path inside Vespa). Item features are document attributes; user and
request features arrive with the query as ``query(name)`` inputs.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from rankct.errors import RankctError
from rankct.export.onnx_model import INPUT_NAME, OUTPUT_NAME, feature_names_of, margin_base_score
from rankct.io import atomic_dir, atomic_file

ONNX_MODEL = "ranker"
# Features with these prefixes are known per user or per request, not per item: query inputs.
QUERY_PREFIXES = ("user_", "request_", "query_")
# Document fields every item carries besides its model features: the id and the usual filters.
BASE_FIELDS = {"item_id": "long", "category": "string", "brand": "string"}
NUMERIC_TYPES = ("double", "float", "long", "int")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

SERVICES_XML = """<?xml version="1.0" encoding="utf-8"?>
<services version="1.0">
    <container id="{app}_container" version="1.0">
        <search/>
        <document-api/>
        <nodes>
            <node hostalias="node1"/>
        </nodes>
    </container>
    <content id="{app}" version="1.0">
        <min-redundancy>1</min-redundancy>
        <documents>
            <document type="{schema}" mode="index"/>
        </documents>
        <nodes>
            <node hostalias="node1" distribution-key="0"/>
        </nodes>
    </content>
</services>
"""


def vespa_package(onnx_path: Path | str, booster: xgb.Booster, feature_names: list[str],
                  out_dir: Path | str, *, app_name: str = "marketplace", schema: str = "item",
                  rank_profile: str = "ranker",
                  item_fields: dict[str, str] | None = None) -> Path:
    """Write ``<out_dir>/vespa-app/`` and its zip ``<out_dir>/vespa-app.zip``; return the zip path.

    ``item_fields`` maps document field names to Vespa types; model features among its keys are
    item attributes and every other model feature is a query input. Without it, features named
    ``user_*``, ``request_*`` or ``query_*`` are query inputs and the rest ``double`` attributes.
    """
    names = list(feature_names)
    for name in [*names, *(item_fields or {}), app_name, schema, rank_profile]:
        if not _IDENTIFIER.fullmatch(name):
            raise RankctError(f"{name!r} is not a valid Vespa identifier",
                              hint="rename the feature or package to letters, digits and '_'")
    if feature_names_of(onnx_path) != names:
        raise RankctError(f"{onnx_path} was exported for another feature list or order",
                          hint="re-export the ONNX model from this booster")
    fields, query_inputs = _layout(names, item_fields)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir / "vespa-app") as app:
        (app / "schemas").mkdir()
        (app / "models").mkdir()
        (app / "services.xml").write_text(SERVICES_XML.format(app=app_name, schema=schema))
        (app / "schemas" / f"{schema}.sd").write_text(
            _schema(schema, rank_profile, names, fields, query_inputs, margin_base_score(booster)))
        (app / "models" / f"{ONNX_MODEL}.onnx").write_bytes(Path(onnx_path).read_bytes())
        # Vespa's xgboost() reads the dump_model JSON (a list of trees), not save_model's JSON.
        dump = booster.get_dump(dump_format="json")
        (app / "models" / f"{ONNX_MODEL}.json").write_text("[\n" + ",\n".join(dump) + "\n]\n")
    return _zip(out_dir / "vespa-app", out_dir / "vespa-app.zip")


def _layout(names: list[str],
            item_fields: dict[str, str] | None) -> tuple[dict[str, str], list[str]]:
    """(document fields with their types, model features that come from the query).

    Features default to ``double``: a double attribute without a value reads as NaN, which the
    model routes as missing, where an integer attribute would read as its "undefined" sentinel.
    """
    if item_fields is None:
        item_fields = {n: "double" for n in names if not n.startswith(QUERY_PREFIXES)}
    fields = {**BASE_FIELDS, **item_fields}
    for name, kind in item_fields.items():
        if name in names and kind not in NUMERIC_TYPES:
            raise RankctError(f"model feature {name!r} is declared {kind!r}, not a number type",
                              hint=f"declare it as one of {', '.join(NUMERIC_TYPES)}")
    return fields, [n for n in names if n not in item_fields]


def _source(name: str, query_inputs: list[str]) -> str:
    return f"query({name})" if name in query_inputs else f"attribute({name})"


def _schema(schema: str, profile: str, names: list[str], fields: dict[str, str],
            query_inputs: list[str], base_score: float) -> str:
    """The .sd text: document fields, then the ONNX profile and the native XGBoost profile."""
    lines = [f"schema {schema} {{", f"    document {schema} {{"]
    for name, kind in fields.items():
        lines += [f"        field {name} type {kind} {{",
                  "            indexing: summary | attribute"]
        # fast-search builds a dictionary: worth its memory only for fields queries filter on,
        # not for features that are only read while ranking.
        if name in BASE_FIELDS and kind in ("string", "long", "int"):
            lines.append("            attribute: fast-search")
        lines.append("        }")
    lines.append("    }")
    # Every query input must be sent with each query: an input left out reads as 0, not missing.
    inputs = ["        inputs {", *(f"            query({n}) double" for n in query_inputs),
              "        }"] if query_inputs else []
    cells = ", ".join(_source(n, query_inputs) for n in names)
    lines += [
        "",
        f"    rank-profile {profile} {{",
        *inputs,
        "        # The model's input row, columns in ONNX feature order (batch size 1).",
        f"        function {profile}_features() {{",
        f"            expression: tensor<float>(d0[1],d1[{len(names)}]):[[{cells}]]",
        "        }",
        f"        onnx-model {ONNX_MODEL} {{",
        f"            file: models/{ONNX_MODEL}.onnx",
        f'            input "{INPUT_NAME}": {profile}_features',
        f'            output "{OUTPUT_NAME}": {OUTPUT_NAME}',
        "        }",
        "        first-phase {",
        f"            expression: sum(onnx({ONNX_MODEL}).{OUTPUT_NAME})",
        "        }",
        "    }",
        "",
        f"    rank-profile {profile}_xgboost {{",
        *inputs,
        "        # The dump's splits name model features: one function per feature feeds them.",
        *(line for n in names for line in (f"        function {n}() {{",
                                           f"            expression: {_source(n, query_inputs)}",
                                           "        }")),
        "        # The dump_model JSON has no base_score and xgboost() only sums the trees: add",
        "        # the booster's margin base score so both profiles give the same score.",
        "        constants {",
        f"            base_score: {np.format_float_positional(np.float32(base_score))}",
        "        }",
        "        first-phase {",
        f'            expression: xgboost("{ONNX_MODEL}.json") + base_score',
        "        }",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _zip(folder: Path, target: Path) -> Path:
    """Zip ``folder`` with fixed timestamps (same package, same bytes), atomically."""
    with atomic_file(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            zf.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return target


def _block(text: str, header: str) -> str:
    """The text inside the braces that follow the first match of the regex ``header``."""
    match = re.search(header + r"\s*\{", text)
    if match is None:
        raise RankctError(f"no block matching {header!r} in the schema")
    depth, start = 1, match.end()
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    raise RankctError(f"unbalanced braces after {header!r} in the schema")


def _find(pattern: str, text: str) -> str:
    """The first group of the first match of ``pattern``; RankctError when there is none."""
    match = re.search(pattern, text)
    if match is None:
        raise RankctError(f"no match for {pattern!r} in the schema")
    return match.group(1)


def package_inputs(package_dir: Path | str, schema: str = "item",
                   rank_profile: str = "ranker") -> dict[str, Any]:
    """Read back how a package feeds its ONNX model, to check it before deploying.

    Returns ``features`` (the model's input columns, from its metadata), ``cells`` (the rank
    feature feeding each column, in order), the declared ``attributes`` and ``query_inputs``, and
    ``unmapped``: columns whose cell is not ``attribute(<feature>)`` of a declared attribute or
    ``query(<feature>)`` of a declared input.
    """
    package_dir = Path(package_dir)
    sd = (package_dir / "schemas" / f"{schema}.sd").read_text()
    document = _block(sd, rf"document\s+{schema}")
    fields = re.finditer(r"field\s+(\w+)\s+type\s+[^{]+\{([^}]*)\}", document)
    attributes = [m.group(1) for m in fields
                  if re.search(r"indexing:[^\n]*\battribute\b", m.group(2))]
    profile = _block(sd, rf"rank-profile\s+{rank_profile}\b[^{{]*")
    inputs = _block(profile, "inputs") if re.search(r"inputs\s*\{", profile) else ""
    query_inputs = re.findall(r"query\((\w+)\)", inputs)
    onnx_block = _block(profile, r"onnx-model\s+\w+")
    model_file = _find(r"file:\s*(\S+)", onnx_block)
    function = _find(rf'input\s+"{INPUT_NAME}"\s*:\s*(\w+)', onnx_block)
    expression = _block(profile, rf"function\s+{function}\(\)")
    cells = [c.strip() for c in _find(r"\[\[(.*)\]\]", expression).split(",")]
    features = feature_names_of(package_dir / model_file)
    declared = {f"attribute({a})" for a in attributes} | {f"query({q})" for q in query_inputs}
    unmapped = [f for i, f in enumerate(features) if i >= len(cells) or cells[i] not in declared
                or cells[i] not in (f"attribute({f})", f"query({f})")]
    return {"features": features, "cells": cells, "attributes": attributes,
            "query_inputs": query_inputs, "unmapped": unmapped}
