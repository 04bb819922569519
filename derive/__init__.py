"""derive: a small neural network in, a step-by-step, fully checked backpropagation derivation out.

The Python API (the same as the command line, for notebooks and scripts)::

    import derive

    d = derive.derive("two-two-two")           # a preset, a TOML file, TOML text or a dict
    d.loss, d.grad["w11"]                      # every number (d.instances[n].value, .grad)
    text = derive.document(d, "md")            # md, tex, pdf, html or ipynb; out_dir= writes files
    numbers = derive.values(d)                 # the dict `derive values` prints as JSON
    report = derive.check(d, "answers.toml")   # which answers of a hand derivation are wrong, and why
    findings = derive.audit(d, "post.md")      # which lines of a written derivation are wrong, and why

``derive.load`` reads a spec without deriving it, ``derive.presets()`` lists the built-in ones,
``derive.answers_file(d)`` writes an answers file to fill in. In Jupyter a derivation displays
itself as its worked example. Errors are :class:`DeriveError` (``SpecError`` for a bad spec or
answers file, ``UsageError`` for a bad option, ``CheckFailed`` for a bug in derive).

Nothing is imported until it is used (``derive values`` starts as fast as it can).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

#: What ``from derive import *`` and ``dir(derive)`` give, and where each name lives.
_EXPORTS = {
    # functions: derive/api.py
    "presets": "derive.api",
    "load": "derive.api",
    "derive": "derive.api",
    "document": "derive.api",
    "values": "derive.api",
    "answers_file": "derive.api",
    "check": "derive.api",
    "audit": "derive.api",
    # the records they return
    "Spec": "derive.spec.parse",
    "Derivation": "derive.core.derivation",
    "Report": "derive.grade.judge",
    # errors
    "DeriveError": "derive.errors",
    "SpecError": "derive.errors",
    "UsageError": "derive.errors",
    "CheckFailed": "derive.errors",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from derive.api import answers_file, audit, check, derive, document, load, presets, values  # noqa: F401
    from derive.core.derivation import Derivation  # noqa: F401
    from derive.errors import CheckFailed, DeriveError, SpecError, UsageError  # noqa: F401
    from derive.grade.judge import Report  # noqa: F401
    from derive.spec.parse import Spec  # noqa: F401


def __getattr__(name: str) -> Any:
    """Load an exported name (or a submodule such as ``derive.pipeline``) on first use."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("derive")
        except PackageNotFoundError:
            return "unknown"
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'derive' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
