"""The daily continuous-training run, one function per stage, none of them aware of Airflow.

The stages of day D, in order: ``prepare`` (data gate 1, features, materialization, training
set), ``challenger`` (data gate 2, train, register), ``evaluate`` (against the champion, ONNX
parity, the ranking report), ``decide`` (the model gate, then promote or reject) and ``ship``
(export, notify). Each takes the configuration and the day, reads what earlier stages left under
``$RANKCT_HOME/runs/dt=D/`` (``day``) and returns a small JSON-able summary (what an Airflow
task passes on); where the run ended is its :class:`~rankct.pipeline.outcome.Outcome`. Each can
be re-run: it rewrites its own outputs atomically and leaves the champion alone unless the gate
passed. ``scoring`` holds the batch-scoring DAG's stages around its Spark job.
"""
