"""Rendering: the LaTeX printer, the page model, and the writers for each format."""
