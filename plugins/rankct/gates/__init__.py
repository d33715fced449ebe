"""Gates of the training pipeline after data gate 1 (``rankct.quality``): data gate 2 on the
training set, the champion/challenger model gate, and applying its decision to the registry.

Import the submodules directly; ``data_gate2`` runs Evidently and ``apply`` talks to MLflow, both
inside their functions.
"""
