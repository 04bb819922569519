"""Checking what students and authors wrote: answers files, safe formulas, verdicts and diagnoses, audits."""
