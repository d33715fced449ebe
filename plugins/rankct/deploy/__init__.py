"""Deployment: the signed payload that tells the serving side to deploy a version, and both
ends of it.

``contract`` defines the payload (a versioned schema) and verifies a delivery; it uses the
standard library alone, so the deploy workflow runs it from a plain checkout
(``python -S -m rankct deploy verify``). ``announce`` builds the payload of a registered
version from its export bundle and sends it (``rankct deploy notify``, the pipeline's notify
task, a rollback).
"""
