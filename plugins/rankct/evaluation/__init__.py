"""Offline evaluation of rankers: ranking metrics, slices, position debiasing, model comparison."""
