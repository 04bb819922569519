"""Checking hand derivations: answers files, safe formulas, verdicts and diagnoses."""
