"""Evidently reports that analysts read without code: HTML for people, JSON for machines."""
