"""Data gate 1: the raw partitions of a day checked against the contract before any training."""

from rankct.quality.gate import validate_partition
from rankct.quality.results import CheckResult, ValidationResult

__all__ = ["CheckResult", "ValidationResult", "validate_partition"]
