"""Independent checks: a NumPy reference, finite differences, sympy.diff."""
