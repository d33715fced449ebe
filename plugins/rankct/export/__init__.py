"""Export of trained XGBoost rankers for serving: ONNX, parity checks, Vespa and Triton packages.

The submodules import xgboost, onnx and onnxruntime at the top; import them directly
(``rankct.export.onnx_model`` and so on) from jobs and tests, never from DAG files.
"""
