"""Stage 6: rendering. Jinja2 templates over a checked derivation; nothing here differentiates.

One strict environment (undefined variables are errors), a loader chain so that a user's
``--templates DIR`` overrides single templates, and a :class:`Page` that hands the templates
LaTeX for names, expressions and numbers.
"""

from __future__ import annotations

import functools
import hashlib
import signal
import threading
from functools import cached_property
from pathlib import Path

import re

import jinja2
import sympy as sp
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from derive import i18n
from derive.i18n import _, ngettext
from derive.core.derivation import Derivation
from derive.errors import UsageError
from derive.render.escape import md_prose, md_text
from derive.render.printer import (DEFAULT_DIGITS, NOTATIONS, as_factor, format_number, node_names, result, substituted,
                                   instance_name, terms, tex)
from derive.core.activations import activation_of
from derive.core.layers import layer_type
from derive.core.numbers import flat
from derive.core.optimizers import optimizer_of
from derive.core.layers import layer_type

FORMATS = ("md", "tex", "pdf", "html", "ipynb")
VIEWS = ("scalar", "matrix", "tape")


#: Filters for spec text in Markdown templates: ``{{ spec.title | prose_line }}``,
#: ``{{ spec.description | prose }}``, ``{{ spec.source | text }}`` (see derive.render.escape).
FILTERS = {"prose": lambda s: md_prose(s, field="description"),
           "prose_line": lambda s: md_prose(s, field="title", one_line=True),
           "text": md_text}


def template_dirs() -> list[Path]:
    """The built-in templates: inside the installed package, or the source tree's templates/."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    source = package.parent / "templates"
    return [d for d in (installed, source) if d.is_dir()][:1]


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept for the process (keyed by name and source checksum): a worksheet run
    renders hundreds of pages, and parsing the templates again each time would cost most of it.

    Behind it, as Python keeps .pyc files, Jinja's own per-user file cache (a directory only this
    user can write, checked by Jinja; entries keyed by the template's path and checked against its
    source's checksum): compiling the worked example's templates costs a single `derive render`
    more than the rest of the page. Without a writable cache directory, memory alone serves.
    """

    def __init__(self, kind: str = ""):
        self.store: dict[str, bytes] = {}
        self.disk: jinja2.BytecodeCache | None = None
        try:
            # The file names carry Jinja's version and this environment's options (and whether it is the
            # sandbox, which compiles every call and attribute to a checked one): compiled code depends on them.
            self.disk = jinja2.FileSystemBytecodeCache(
                pattern=f"derive-{jinja2.__version__}-{_OPTIONS}{kind}-%s.cache")
        except (OSError, RuntimeError):
            pass

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])
        elif self.disk is not None:
            try:
                self.disk.load_bytecode(bucket)
            except Exception:  # a damaged or foreign cache file: compile afresh
                bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()
        if self.disk is not None:
            try:
                self.disk.dump_bytecode(bucket)
            except OSError:
                pass


#: The options every template is compiled with; their digest names the file cache's entries, so that
#: changing one never runs code compiled under another.
_ENV_OPTIONS = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}
_OPTIONS = hashlib.sha1(repr(sorted(_ENV_OPTIONS.items()) + ["StrictUndefined", "_is_html", "i18n"]).encode()).hexdigest()[:10]
_BYTECODE = _MemoryBytecodeCache()
_SANDBOX_BYTECODE = _MemoryBytecodeCache("-sandbox")

#: In a user's templates: the longest string or list that ``*`` may make, the largest power ``**`` may
#: compute (in bits), the widest field a ``%`` or ``format`` may pad to. ``range`` stops at 100,000 (Jinja's own).
MAX_REPEAT = 1_000_000
MAX_POWER_BITS = 100_000
_WIDE_FIELD = re.compile(r"%[^a-zA-Z%]*\d{6,}|\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")


#: How long a user's template may take to write one page, in seconds (CPU time spent in the template).
TEMPLATE_SECONDS = 60


class _TimedTemplate(jinja2.Template):
    """A user's template, stopped when writing it takes longer than :data:`TEMPLATE_SECONDS`.

    The sandbox bounds what one expression allocates, not how many times a loop runs (``range(99999)``
    inside ``range(99999)``); a timer on the process's CPU time (``SIGVTALRM``) stops it. The
    outermost render sets the timer (the templates it includes or extends run inside it). Where no
    timer can be set (not the main thread, or no such signal), the template runs unbounded.
    """

    def render(self, *args, **kwargs):
        if (not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
                or signal.getitimer(signal.ITIMER_VIRTUAL)[0]):
            return super().render(*args, **kwargs)

        def stop(signum, frame):
            raise SecurityError(f"the template ran longer than {TEMPLATE_SECONDS} s (a loop too long?)")

        previous = signal.signal(signal.SIGVTALRM, stop)
        signal.setitimer(signal.ITIMER_VIRTUAL, TEMPLATE_SECONDS)
        try:
            return super().render(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox for a user's templates (``--templates``), which are code from outside: no attribute
    starting with an underscore, no Python internals, no changing derive's objects, ``range`` capped; and
    no string, list or number so large that making it exhausts the memory."""

    intercepted_binops = frozenset({"*", "**", "%"})
    template_class = _TimedTemplate

    def call_binop(self, context, operator, left, right):
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_REPEAT:
                    raise SecurityError(f"'*' would make {len(seq) * times} items (at most {MAX_REPEAT})")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * abs(left).bit_length() > MAX_POWER_BITS:
                raise SecurityError(f"'**' would make a number of more than {MAX_POWER_BITS} bits")
        elif operator == "%" and isinstance(left, str) and _WIDE_FIELD.search(left):
            raise SecurityError(f"a field of a million characters or more in {left[:40]!r}")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value):
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
                getattr(value, "__self__", None), str) and _WIDE_FIELD.search(value.__self__):
            raise SecurityError(f"a field of a million characters or more in {value.__self__[:40]!r}")
        return super().wrap_str_format(value)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's own signature)
        _check_arguments(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _check_arguments(args, kwargs) -> None:
    """Refuse a call from a user's template with a count of a million or more (``'x'.ljust(10**9)``,
    ``|center(10**9)``) or a format string with such a field (``'%1000000000d'|format(1)``)."""
    for a in (*args, *kwargs.values()):
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) >= MAX_REPEAT:
            raise SecurityError(f"an argument of {a} (a template may pass counts below {MAX_REPEAT})")
        if isinstance(a, str) and _WIDE_FIELD.search(a):
            raise SecurityError(f"a field of a million characters or more in {a[:40]!r}")


def _checked_filter(f):
    @functools.wraps(f)  # keeps Jinja's pass_context/pass_environment marks
    def checked(*args, **kwargs):
        _check_arguments(args, kwargs)
        return f(*args, **kwargs)

    return checked


#: The prefix under which the built-in templates stay reachable when a user's template overrides one.
BUILTIN_PREFIX = "builtin"


@jinja2.pass_context
def _name_filter(context, key: str) -> str:
    """``{{ key | name }}``: a node's LaTeX name on the page being rendered."""
    return context["page"].name(key)


@jinja2.pass_context
def _num_filter(context, x: float) -> str:
    """``{{ x | num }}``: a number in the page's format."""
    return context["page"].num(x)


def environment(user_dir: Path | None = None) -> jinja2.Environment:
    """The one strict Jinja environment (built once; once per user template directory).

    A name is looked up in the user's directory first, then among the built-ins; the built-ins are
    also reachable as ``builtin/NAME``, so that a user's ``worked_example.md.j2`` can
    ``{% extends "builtin/worked_example.md.j2" %}`` and override single blocks.
    """
    return _environment(str(Path(user_dir).resolve()) if user_dir else None)


@functools.lru_cache(maxsize=16)
def _environment(user_dir: str | None) -> jinja2.Environment:
    builtin = jinja2.FileSystemLoader([str(d) for d in template_dirs()])
    chain = ([jinja2.FileSystemLoader(user_dir)] if user_dir else []) + [builtin]
    loader = jinja2.ChoiceLoader([jinja2.PrefixLoader({BUILTIN_PREFIX: builtin}, delimiter="/"), *chain])
    # A user's templates run in the sandbox (the built-ins they extend with them); derive's own alone run
    # unsandboxed, which is faster (no check around every attribute and call) and needs no guard.
    kind = _Sandbox if user_dir else jinja2.Environment
    env = kind(loader=loader, undefined=jinja2.StrictUndefined, autoescape=_is_html,
               bytecode_cache=_SANDBOX_BYTECODE if user_dir else _BYTECODE, extensions=["jinja2.ext.i18n"],
               **_ENV_OPTIONS)
    env.filters.update(name=_name_filter, num=_num_filter, **FILTERS)
    # {% trans %} and _() look the language up when the page is written (derive.i18n.language), so one
    # environment serves every language.
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
    env.globals.update(language=i18n.current, latex_babel=i18n.latex_babel)
    if user_dir:
        env.filters = {name: _checked_filter(f) for name, f in env.filters.items()}
    return env


def _is_html(name: str | None) -> bool:
    """HTML templates escape what they print ({{ title }}); Markdown and LaTeX get escaped text."""
    return bool(name) and name.endswith(".html.j2")


class Page:
    """What a template sees: the derivation plus LaTeX helpers in one notation and precision."""

    def __init__(self, d: Derivation, *, notation: str = "inout", digits: int = DEFAULT_DIGITS,
                 views: tuple[str, ...] = ("scalar",), figures: dict[str, tuple[str, str]] | None = None):
        if notation not in NOTATIONS:
            raise UsageError(f"--notation: unknown style '{notation}', expected one of {', '.join(NOTATIONS)}")
        self.d = d
        self.spec = d.spec
        self.graph = d.graph
        self.steps = d.steps
        self.notation = notation
        self.digits = digits
        self.names = node_names(d.graph, notation)
        unknown = [v for v in views if v not in VIEWS]
        if unknown:
            raise UsageError(f"--views: unknown view '{unknown[0]}', expected some of {', '.join(VIEWS)}")
        self.views = tuple(views)
        self.figures = figures or {}
        """Picture role → (file name, caption) of the pictures this page shows."""

    # -- names and numbers

    def name(self, key: str) -> str:
        return self.names[self.graph[key].symbol]

    def num(self, x: float) -> str:
        return format_number(x, self.digits)

    def factor(self, x: float) -> str:
        """A number as a factor of a product: negatives and powers of ten in parentheses."""
        return as_factor(self.num(x))

    def dL(self, key: str, loss: str = "L") -> str:
        return rf"\frac{{\partial {loss}}}{{\partial {self.name(key)}}}"

    def partial(self, child: str, node: str) -> str:
        return rf"\frac{{\partial {self.name(child)}}}{{\partial {self.name(node)}}}"

    # -- expressions

    def expr(self, e: sp.Expr) -> str:
        return tex(e, self.names)

    def at(self, e: sp.Expr, num) -> str:
        """The expression with every symbol replaced by its number in the instance ``num``."""
        values = {self.graph[k].symbol: v for k, v in num.value.items()}
        exact = None if num.exact is None else {self.graph[k].symbol: v for k, v in num.exact.items()}
        return tex(e, self.names, values, self.digits, exact)

    def forward_chain(self, key: str, num) -> str:
        """The right-hand side of a forward equation: definition = numbers substituted ≈ value.

        The substituted member is left out where it would only repeat the value (an identity layer's
        ``a = z ≈ -2.443``, a constant). Where the formulas of a layer are long, the numbers go on a
        row of their own (``\\\\ &= …``), for every unit of the layer alike."""
        e = self.graph[key].expr
        return self._chain([self.definition(key)], e, num, self.value(num, key), self._long_rows(key))

    def local_chain(self, child: str, node: str, num) -> str:
        """∂child/∂node alone on the right of an equation: formula = numbers substituted ≈ value."""
        e = self.steps.local[(child, node)]
        return self._chain([self.expr(e)], e, num, self.gradient(num, node), len(self.expr(e)) > self.LONG_ROW / 2)

    #: A formula longer than half this (characters of LaTeX) puts its numbers on a row of their own.
    LONG_ROW = 240

    def _long_rows(self, key: str) -> bool:
        node = self.graph[key]
        return self._longest_definition[(node.role, node.layer)] > self.LONG_ROW / 2

    @cached_property
    def _longest_definition(self) -> dict:
        out: dict = {}
        for node in self.graph.computed:
            group = (node.role, node.layer)
            out[group] = max(out.get(group, 0), len(self.definition(node.key)))
        return out

    def _chain(self, members: list[str], e: sp.Expr, num, result: str, long: bool) -> str:
        if e.free_symbols and not e.is_Symbol:
            members.append(self.at(e, num))
        joint = " \\\\\n&= " if long and len(members) > 1 else " = "
        if result == f"= {members[-1]}":
            return joint.join(members)
        return joint.join(members) + " " + result

    def minus(self, a: float, b: float) -> str:
        """``a - b`` with numbers: ``0.3305 - 0``, ``0.5 - \\left(-0.16\\right)``."""
        return f"{self.num(a)} - {self.factor(b)}"

    def terms(self, xs) -> str:
        """Numbers added up: ``0.5 + 0.25 - 0.125`` (a negative one after the first as a subtraction)."""
        return terms(xs, self.num)

    def value(self, num, key: str) -> str:
        """``= 16`` / ``\\approx 0.7319`` / ``= \\frac{1}{2}``: a node's value after its formula."""
        return result(num.value[key], None if num.exact is None else num.exact[key], self.digits)

    def gradient(self, num, key: str) -> str:
        """The same for dL/d(node)."""
        return result(num.grad[key], None if num.exact_grad is None else num.exact_grad[key], self.digits)

    def result(self, x: float, exact=None) -> str:
        return result(x, exact, self.digits)

    def grad_factor(self, num, key: str) -> str:
        """dL/d(node) written into a product: exact when rational; parentheses when negative."""
        exact = None if num.exact_grad is None else num.exact_grad[key]
        return as_factor(substituted(num.grad[key], exact, self.digits))

    def local_value(self, num, child: str, node: str) -> str:
        """The value of ∂child/∂node as a factor."""
        exact = None if num.exact_local is None else num.exact_local[(child, node)]
        return as_factor(substituted(num.local[(child, node)], exact, self.digits))

    def local_factor(self, child: str, node: str, num=None) -> str:
        """∂child/∂node as a factor: symbolic, or with the numbers of ``num``; sums in parentheses."""
        e = self.steps.local[(child, node)]
        text = self.expr(e) if num is None else self.at(e, num)
        if e.is_Add or e.could_extract_minus_sign():
            return rf"\left({text}\right)"
        return text

    def kink(self, key: str, num) -> str | None:
        """The activation's convention, where this pre-activation sits exactly at its kink (z = 0)."""
        node = self.graph[key]
        if node.role != "in":
            return None
        act = activation_of(self.spec.layers[node.layer])
        return (act.convention or None) if act.on_kink(num.value[key]) else None

    @cached_property
    def output_activation(self):
        """The output layer's activation (its ``title`` names it in prose)."""
        return activation_of(self.spec.layers[-1])

    @cached_property
    def simplified(self) -> bool:
        """Whether the output activation and the loss simplify to dL/dz = a − t (softmax + cross-entropy)."""
        return self.graph.loss.simplifies(activation_of(self.spec.layers[-1]))

    def shortcut(self, key: str) -> tuple[str, str] | None:
        """For an output pre-activation of a simplifying pair: the LaTeX of (a − t) and of its numbers."""
        node = self.graph[key]
        if not self.simplified or node.role != "in" or node.layer != len(self.spec.layers) - 1:
            return None
        j = node.index[0]
        a, t = self.graph.layer_units[-1][j][1], self.graph.target_keys[j]
        return a, t

    def definition(self, key: str) -> str:
        return self.expr(self.graph[key].expr)

    @cached_property
    def optimizer(self):
        """The optimizer of the spec's training (its update rule, in LaTeX)."""
        return optimizer_of(self.spec.training)

    @cached_property
    def lettering(self):
        """The letters the page writes the optimizer's quantities in: its usual ones, except those that already
        name quantities of this network (``v`` for the second layer's weights), which the optimizer renames."""
        taken = set()
        for name in self.names.values():
            m = re.match(r"(?:\\(?:hat|bar|tilde)\{)?(\\?[A-Za-z]+)", name)
            if m:
                taken.add(m.group(1))
        taken |= {layer.weight_symbol.upper() for layer in self.spec.layers if layer.weight_symbol}  # matrices
        return self.optimizer.lettering(taken)

    def optimizer_description(self, every: bool = False) -> str:
        """The optimizer's sentence in this page's letters, and a sentence naming the letters it renamed that the
        page shows (``every``: all of them, for a sheet that shows the whole rule)."""
        text = self.lettering.prose(_(self.optimizer.description))
        note = self.lettering.note(None if every else self._shown_letters())
        return text + " " + note if note else text

    def _shown_letters(self) -> set[str]:
        """The optimizer's usual letters that its description or the update rows show (g: a gradient row)."""
        after = self.d.after_step
        texts = [self.optimizer.description]
        shown = set()
        if after is not None:
            for key, lines in after.lines.items():
                plain = self.plain_update(key)
                shown |= set() if plain else {"g"}
                texts += [t.replace("g_{@}", "") if plain else t for line in lines for t in (line.target, line.formula)]
        pieces = " ".join(texts)
        return shown | {u for u in self.optimizer.letters if self.lettering.shows(u, pieces)}

    def update_letter(self, letter: str) -> str:
        """The page's letter for one of the optimizer's usual letters (``g``: the gradient an update uses)."""
        return self.lettering.renamed.get(letter, letter)

    @cached_property
    def loss_sentence(self) -> str:
        """The loss's own sentence before $L = …$ (it names the first error where the loss has errors)."""
        loss = self.graph.loss
        error = f"{self.name('e1')} = {self.definition('e1')}" if loss.uses_errors else ""
        return loss.sentence(error, self.spec.outputs)

    def figure(self, role: str) -> str:
        """The Markdown image of a picture (``network-1``, ``loss``), or "" when the page has none."""
        if role not in self.figures:
            return ""
        file, caption = self.figures[role]
        return f"![{caption}]({file})"

    # -- structure

    @cached_property
    def activations(self) -> list[dict]:
        """Each activation used (with its options), once: its formulas, layers and convention."""
        seen: list[dict] = []
        for layer in self.spec.layers:
            if not layer_type(layer).activates(layer):
                continue
            op = activation_of(layer)
            formulas = [(tex(lhs, {}), tex(rhs, {})) for lhs, rhs in op.formulas()]
            for entry in seen:
                if entry["name"] == op.name and entry["formulas"] == formulas:
                    entry["layers"].append(layer.name)
                    break
            else:
                seen.append({"name": op.name, "op": op, "formulas": formulas, "layers": [layer.name]})
        return seen

    # -- layer types (their page sections are partials the class names: templates/layers/)

    def scalar_layer(self, layer) -> bool:
        """Whether the page shows each node of the layer as its own line (dense) rather than its partial."""
        return layer_type(layer).scalar_steps

    def nodes_of(self, l: int) -> list[str]:
        """Every computed node of layer l, in forward order."""
        return [n.key for n in self.graph.computed if n.layer == l]

    def layer_partial(self, layer) -> str:
        return layer_type(layer).partial

    def layer_title(self, layer) -> str:
        return layer_type(layer).title

    def layer_activates(self, layer) -> bool:
        """Whether the layer applies an activation of its own (an addition that names one)."""
        return layer_type(layer).activates(layer)

    def layer_max(self, layer) -> bool:
        """Whether a pooling layer takes the maximum (its gradient goes to the winner)."""
        return layer_type(layer).routes

    @cached_property
    def maps(self):
        """Feature maps and kernels as matrices, for the partials of layers of feature maps."""
        from derive.render.tensors import Maps

        return Maps(self)

    @cached_property
    def seq(self):
        """States step by step, for the partial of a recurrent layer."""
        from derive.render.sequences import Sequences

        return Sequences(self)

    def recurrent(self, layer) -> bool:
        """Whether the layer reads a sequence step by step (its partial shows its states per step)."""
        return layer_type(layer).sequence

    @cached_property
    def sequence(self) -> bool:
        """Whether the network reads a sequence (its first layer is recurrent)."""
        return layer_type(self.spec.layers[0]).sequence

    def activation(self, l: int):
        """The activation class of layer l, with the layer's options."""
        return activation_of(self.spec.layers[l])

    def layer_nodes(self, l: int) -> list[str]:
        """Forward order within layer l: every normalized value (a batch normalization's), every pre-activation,
        then every activation."""
        units = self.graph.layer_units[l]
        return self.role_keys("hat", l) + [z for z, _ in units] + [a for _, a in units]

    def role_keys(self, role: str, l: int) -> list[str]:
        """The instance graph's keys of ``role`` in layer l (``hat``, ``mean``, ``var``), in unit order."""
        return [n.key for n in self.graph.nodes.values() if n.role == role and n.layer == l]

    def couples(self, l: int) -> bool:
        """Whether layer l couples the instances of the batch (its statistics come from every instance)."""
        return layer_type(self.spec.layers[l]).couples

    @cached_property
    def batch(self) -> "Page":
        r"""The same page over the batch-wide graph (names with the instance, ``h_{1}^{\mathrm{in}\,(2)}``):
        for the batch statistics and their chain-rule steps, with ``d.batch.numbers``."""
        other = Page(self.d, notation=self.notation, digits=self.digits, views=self.views, figures=self.figures)
        other.graph, other.steps = self.d.batch.graph, self.d.batch.steps
        other.names = node_names(other.graph, self.notation)
        return other

    @cached_property
    def forward_parts(self) -> list[dict]:
        """The forward pass in parts: each a run of layers shown instance by instance, a part after a coupling
        layer's batch statistics (``stats``: that layer's index, else None). One part without such a layer."""
        return self._parts(range(len(self.spec.layers)))

    def _parts(self, order) -> list[dict]:
        parts = [{"layers": [], "stats": None, "first": True}]
        for l in order:
            if self.couples(l):
                parts.append({"layers": [], "stats": l, "first": False})
            parts[-1]["layers"].append(l)
        return [p for p in parts if p["layers"] or p["stats"] is not None]

    @cached_property
    def backward_parts(self) -> list[dict]:
        """The backward pass in parts, from the loss down: a coupling layer's batch statistics (``stats``) come
        between the part that reaches its normalized values and the part below it. Each part has its ``groups``
        (as :attr:`backward_groups`) and its ``layers`` (for the parameters), in backward order."""
        parts = [{"layers": [], "stats": None}]
        for l in reversed(range(len(self.spec.layers))):
            parts[-1]["layers"].append(l)
            if self.couples(l):
                parts.append({"layers": [], "stats": l})
        groups = self.backward_groups
        for k, part in enumerate(parts):
            part["first"], part["last"] = k == 0, k == len(parts) - 1
            mine = {self.spec.layers[l].name for l in part["layers"]}
            # the errors (no layer) open the first part, the network's inputs (no layer) close the last
            part["groups"] = [(title, keys) for title, keys in groups if self._group_layer(keys) in mine
                              or (self._group_layer(keys) is None and (part["first"] if self.graph[keys[0]].role == "error"
                                                                       else part["last"]))]
        return parts

    def _group_layer(self, keys: list[str] | int) -> str | None:
        if isinstance(keys, int):  # a layer whose partial shows its backward pass
            return self.spec.layers[keys].name
        node = self.graph[keys[0]]
        return None if node.layer is None else self.spec.layers[node.layer].name

    @cached_property
    def loss_nodes(self) -> list[str]:
        return [n.key for n in self.graph.computed if n.role in ("error", "loss")]

    @cached_property
    def backward_groups(self) -> list[tuple[str | None, list[str] | int]]:
        """The non-parameter steps in backward order, grouped under a heading each (in the page's language);
        ``(None, l)`` where layer l's own partial shows its backward pass (feature maps, a normalization)."""
        graph = self.graph
        groups = []
        errors = [n.key for n in graph.computed if n.role == "error"]
        if errors:
            groups.append((_("Through the errors"), errors))
        for l in reversed(range(len(self.spec.layers))):
            if not self.scalar_layer(self.spec.layers[l]):
                groups.append((None, l))  # its partial shows it (feature maps as matrices, a normalization)
                continue
            name = self.spec.layers[l].name
            outs = [a for _, a in graph.layer_units[l] if a in self.steps.steps]
            ins = [z for z, _ in graph.layer_units[l] if z in self.steps.steps]
            groups.append((_("Through the outputs of layer %(name)s") % {"name": name}, outs))
            groups.append((_("Through the inputs of layer %(name)s") % {"name": name}, ins))
            groups.append((_("Through the normalized values of layer %(name)s") % {"name": name},
                           [k for k in self.role_keys("hat", l) if k in self.steps.steps]))
        inputs = [k for k in graph.input_keys if k in self.steps.steps and self.scalar_layer(self.spec.layers[0])]
        groups.append((_("Through the network's inputs"), inputs))
        return [(title, keys) for title, keys in groups if keys or title is None]

    def skip_paths(self, keys: list[str], num) -> dict | None:
        """Where ``keys`` are the outputs of a layer that a residual addition takes (``from``) besides the layers
        after it: their gradients split into their paths, ``{"layer": the addition's index, "units": [{"key",
        "paths": [{"label", "children", "value"}]}]}`` (the branch first, then each skip connection), else None."""
        if not keys or self.graph[keys[0]].role != "out" or self.graph[keys[0]].layer is None:
            return None
        s = self.graph[keys[0]].layer
        adds = [l for l, layer in enumerate(self.spec.layers) if layer_type(layer).source(layer) == s]
        if not adds:
            return None
        between = [layer.name for layer in self.spec.layers[s + 1:adds[0]]]
        branch_label = ngettext("through the residual branch (layer %(layers)s)",
                                "through the residual branch (layers %(layers)s)", len(between)) % {
                                    "layers": ", ".join(between)}
        units = []
        for key in keys:
            children = [t.child for t in self.steps.steps[key].terms]
            skips = [[c for c in children if self.graph[c].layer == a] for a in adds]
            branch = [c for c in children if self.graph[c].layer not in adds]
            if not branch:
                return None  # an addition of a layer to itself: one path
            paths = [{"label": branch_label, "children": branch}]
            paths += [{"label": _("along the skip connection to layer %(name)s") % {"name": self.spec.layers[a].name},
                       "children": c} for a, c in zip(adds, skips) if c]
            for path in paths:
                path["value"] = num.through(key, path["children"])
            units.append({"key": key, "paths": paths})
        return {"layer": adds[0], "units": units}

    def layer_parameters(self, l: int) -> list[str]:
        keys = flat(self.graph.layer_weights[l])
        bias = self.graph.layer_bias[l]
        if bias is not None and self.spec.layers[l].train_bias:
            keys += list(bias)
        return keys

    def paths(self, key: str):
        """Every path from ``key`` to the loss (None where too many, or where the instances are coupled: then the
        paths run through the other instances of the batch, beyond one instance's page)."""
        return None if self.d.coupled else self.steps.paths(key)

    def path_factors(self, path: tuple[str, ...]) -> list[tuple[str, str]]:
        """The (child, node) edges of a path node → … → L, listed from the loss end."""
        return [(path[i + 1], path[i]) for i in reversed(range(len(path) - 1))]

    def matrix(self, rows) -> str:
        body = r" \\ ".join(" & ".join(rows_i) for rows_i in rows)
        return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"

    # -- the matrix view: instances as rows

    def capital(self, l: int | None, what: str) -> str:
        """The LaTeX of a layer's matrix: X (inputs), H^in / H (layer h), W (weights), T (targets)."""
        if l is None:
            return {"in": "X", "target": "T"}[what]
        layer = self.spec.layers[l]
        if what == "weights":
            return layer.weight_symbol.upper()
        m = re.fullmatch(r"([a-z]+?)(\d*)", layer.name)
        base = m.group(1).upper() + (f"^{{({m.group(2)})}}" if m.group(2) else "")
        return f"{base}^{{\\mathrm{{in}}}}" if what == "in" and not m.group(2) else (
            f"{base}_{{\\mathrm{{in}}}}" if what == "in" else base)

    def rows(self, keys: list[str], source: str = "value") -> list[list[float]]:
        """An (instances × keys) matrix of values or of instance-loss gradients."""
        return [[(num.value if source == "value" else num.grad)[k] for k in keys] for num in self.d.instances]

    def replay(self, num) -> list[tuple[str, str, float, float, float]]:
        """The backward replay of the tape: (node, parent, ∂L/∂node, ∂node/∂parent, their product) in reverse
        forward order."""
        out = []
        for node in reversed(self.graph.computed):
            for parent in node.parents:
                if (node.key, parent) in num.local:
                    g, loc = num.grad[node.key], num.local[(node.key, parent)]
                    out.append((node.key, parent, g, loc, g * loc))
        return out

    def difference(self, num, a: str, t: str) -> float:
        """a − t of an instance: the simplified dL/dz of a loss and output activation that simplify."""
        return num.value[a] - num.value[t]

    def layer_index(self, layer) -> int:
        """The 0-based index of a spec layer."""
        return self.spec.layers.index(layer)

    def previous_keys(self, l: int) -> list[str]:
        """The keys of what layer l takes in: the inputs, or the previous layer's activations."""
        return list(self.graph.input_keys) if l == 0 else [a for _, a in self.graph.layer_units[l - 1]]

    def previous_capital(self, l: int) -> str:
        """The matrix layer l takes in: X, or the previous layer's activations."""
        return self.capital(None, "in") if l == 0 else self.capital(l - 1, "out")

    def total_weights(self, l: int) -> list[list[float]]:
        """The gradient of the total loss for layer l's weights, as a matrix."""
        return [[self.d.grad[k] for k in row] for row in self.graph.layer_weights[l]]

    def total_bias(self, l: int) -> list[float]:
        return [self.d.grad[k] for k in self.graph.layer_bias[l]]

    def bmatrix(self, rows) -> str:
        return self.matrix([[self.num(x) for x in row] for row in rows])

    def transpose(self, rows):
        return [list(col) for col in zip(*rows)]

    # -- the update: the optimizer's lines, formatted (the derivation computed every number)

    def plain_update(self, key: str) -> bool:
        """Whether the first update of ``key`` is θ ← θ − η·∂L/∂θ itself: one line, the whole data, no penalty."""
        after = self.d.after_step
        return (len(after.lines[key]) == 1 and len(after.first_batch) == len(self.spec.data)
                and self.spec.regularization is None)

    def parts(self, parts) -> str:
        """LaTeX text alternating with numbers: a number is bare at the start of the text or of a braced argument
        (unless a power follows), else a factor (in parentheses when negative)."""
        out = []
        for i, p in enumerate(parts):
            if isinstance(p, str):
                out.append(p)
                continue
            before = parts[i - 1] if i else ""
            after = parts[i + 1] if i + 1 < len(parts) else ""
            bare = (before == "" or before.endswith("{")) and not (isinstance(after, str) and after.startswith("^"))
            out.append(self.num(p) if bare else self.factor(p))
        return "".join(out)

    def penalty_row(self) -> str:
        """R = its formula = the numbers ≈ its value (the numbers left out beyond 12 parameters)."""
        reg, d = self.spec.regularization, self.d
        numbers = ""
        if len(d.regularized) <= 12:
            numbers = " = " + self.parts(reg.parts([d.params[k] for k in d.regularized]))
        return f"R &= {reg.formula()}{numbers} {self.result(d.regularization_term)}"

    def update_block(self, keys: list[str]) -> list[str]:
        """The rows of the first update of every parameter in ``keys``."""
        return [row for key in keys for row in self.update_rows(key)]

    def update_rows(self, key: str) -> list[str]:
        """The rows of an ``aligned`` block: the gradient the first update uses, then the optimizer's lines."""
        after = self.d.after_step
        name = self.name(key)
        rows = []
        plain = self.plain_update(key)
        if not plain:
            rows.append(self.gradient_row(key))
        lines = after.lines[key]
        letters = self.lettering
        for i, line in enumerate(lines):
            formula = letters.tex(line.formula).replace("@", name)
            if plain:
                formula = formula.replace(f"{self.update_letter('g')}_{{{name}}}", self.dL(key))
            shown = self.parts(line.parts)
            numbers = "" if len(line.parts) == 2 and line.parts[0] == "" or shown == self.num(line.value) \
                else f" = {shown}"
            last = i == len(lines) - 1
            exact = after.exact_params[key] if last and after.exact_params and after.updates == 1 else None
            arrow = r"&\leftarrow" if line.assign else "&="
            target = letters.tex(line.target).replace("@", name)
            if line.target == "@" and after.updates > 1 and last:
                # not the parameter after the epoch (`update.` in answers files): after the first of its updates
                target, arrow = instance_name(name, 1), "&="
            rows.append(f"{target} {arrow} {formula}{numbers} {self.result(line.value, exact)}")
        return rows

    def data_gradient(self, key: str) -> str:
        """The symbol of the first update's gradient of the loss of its batch (the regularization term's left out)."""
        after, spec = self.d.after_step, self.spec
        batch = after.first_batch
        if len(batch) == len(spec.data):
            return self.dL(key)
        if self.d.coupled:
            return self.dL(key, "L_{1}")
        sym = " + ".join(self.dL(key, f"L^{{({n + 1})}}") for n in batch)
        return rf"\frac{{1}}{{{len(batch)}}}\left({sym}\right)" if spec.reduction == "mean" and len(batch) > 1 else sym

    def name_list(self, keys: list[str]) -> str:
        """$∂L/∂w_{11}$, $∂L/∂w_{12}$ and $∂L/∂w_{21}$: the first update's gradients of the loss (regularization
        term left out) of the parameters ``keys``."""
        names = [f"${self.data_gradient(k)}$" for k in keys]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " " + _("and") + " " + names[-1]

    @staticmethod
    def largest(values: dict[str, float]) -> float:
        """The value of largest magnitude."""
        return max(map(abs, values.values()))

    def gradient_row(self, key: str) -> str:
        """g = the gradient of the first update's batch (and the penalty's): symbols, numbers, value."""
        after, spec = self.d.after_step, self.spec
        name = self.name(key)
        batch = after.first_batch
        g = after.first_grad[key]
        reg = after.first_reg_grad[key]
        whole = len(batch) == len(spec.data)
        if whole:
            if not reg:
                return rf"{self.update_letter('g')}_{{{name}}} &= {self.dL(key)} {self.result(g)}"
            sym, num = self.dL(key), self.num(after.first_data_grad[key])
        elif self.d.coupled:  # the batch's own statistics: its loss L_1 has no per-instance terms to name
            sym = self.dL(key, "L_{1}")
            num = " + ".join((self.factor if i else self.num)(after.first_instances[i].grad[key]) for i in range(len(batch)))
            if spec.reduction == "mean" and len(batch) > 1:
                num = rf"\frac{{1}}{{{len(batch)}}}\left({num}\right)"
        else:
            sym = " + ".join(self.dL(key, f"L^{{({n + 1})}}") for n in batch)
            num = " + ".join((self.factor if i else self.num)(after.first_instances[i].grad[key]) for i in range(len(batch)))
            if spec.reduction == "mean" and len(batch) > 1:
                sym = rf"\frac{{1}}{{{len(batch)}}}\left({sym}\right)"
                num = rf"\frac{{1}}{{{len(batch)}}}\left({num}\right)"
        if reg:
            sym += " + " + self.spec.regularization.grad_formula().replace(r"\theta", name)
            num += f" + {self.factor(reg)}"
        numbers = "" if num == self.num(g) else f" = {num}"  # one instance's gradient: its number is the value
        return rf"{self.update_letter('g')}_{{{name}}} &= {sym}{numbers} {self.result(g)}"

    def training_rows(self) -> list[int]:
        """Epochs to tabulate: the first few, then about ten spread out, and the last."""
        n = self.spec.training.epochs
        picks = {0, 1, 2, n}
        for k in range(1, 11):
            picks.add(round(n * k / 10))
        return sorted(p for p in picks if 0 <= p <= n)


def _verify(text: str, fmt: str, digits: int, templates) -> None:
    """Refuse to write a page that shows a false equation (every chain checked at the printed precision)."""
    from derive.verify.chains import verify_page

    blame = f"check your templates in {templates}" if templates else "please report this bug in derive"
    verify_page(text, fmt, digits, where=f"the {fmt} page:", blame=blame)


def template_error(exc: Exception) -> UsageError:
    """One line for an error in a template: what went wrong, and the template file and line where.

    A syntax error knows its line; an error while rendering (an undefined name, something the sandbox
    refuses, a division by zero) is found in the traceback, whose template frames Jinja points at the
    template's own lines.
    """
    filename, lineno = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if lineno is None:
        tb = exc.__traceback__
        while tb is not None:
            if "__jinja_exception__" in tb.tb_frame.f_globals:  # a frame Jinja made for a template line
                filename, lineno = tb.tb_frame.f_code.co_filename, tb.tb_lineno
            tb = tb.tb_next
    where = f" at {filename}:{lineno}" if filename and lineno else ""
    if isinstance(exc, SecurityError):
        message = f"not allowed in a template: {exc}"
    elif isinstance(exc, jinja2.TemplateError):
        message = exc.message or type(exc).__name__
    else:
        message = f"{type(exc).__name__}: {exc}"
    return UsageError(f"template error{where}: {message}")


def render_report(report, *, fmt: str = "text", templates: Path | None = None, lang: str | None = None) -> str:
    """The report of `derive check` as terminal text or Markdown, in ``lang`` (None: the current language)."""
    env = environment(Path(templates) if templates else None)
    name = {"text": "check_report.txt.j2", "md": "check_report.md.j2"}[fmt]
    with i18n.language(lang):
        return env.get_template(name).render(report=report, plain=lambda x: f"{x + 0.0:.10g}")  # (no "-0")


def render(d: Derivation, *, fmt: str = "md", notation: str = "inout", digits: int = DEFAULT_DIGITS,
           templates: Path | None = None, fragment: bool = False, katex: str | None = None,
           views: tuple[str, ...] = ("scalar",), pictures: bool = False, edge_gradients: bool = False,
           lang: str | None = None) -> str | bytes:
    """The worked example of a checked derivation in ``fmt``: text for md, tex, html and ipynb, bytes for pdf.

    ``fragment`` leaves out the title and the document around the body, for pasting.
    ``pictures`` draws the network and the loss: inside the page for html and pdf; for md and tex
    they are files of their own, which :func:`render_files` returns beside the document.
    """
    files = render_files(d, fmt=fmt, notation=notation, digits=digits, templates=templates, fragment=fragment,
                         katex=katex, views=views, pictures=pictures, edge_gradients=edge_gradients, lang=lang)
    return files[f"{d.spec.name}.{fmt}"]


def render_files(d: Derivation, *, fmt: str = "md", notation: str = "inout", digits: int = DEFAULT_DIGITS,
                 templates: Path | None = None, fragment: bool = False, katex: str | None = None,
                 views: tuple[str, ...] = ("scalar",), pictures: bool = True,
                 edge_gradients: bool = False, lang: str | None = None) -> dict[str, str | bytes]:
    """The worked example as files: ``NAME.FMT`` first, then the pictures it links to (md, tex).

    Pictures are SVG beside Markdown, PDF beside LaTeX, and inside the file for html, pdf and ipynb;
    ``edge_gradients`` writes ∂L/∂w under each weight of the network's picture. ``lang`` is the
    language of every word (see derive.i18n).
    """
    with i18n.language(lang):
        return _render_files(d, fmt=fmt, notation=notation, digits=digits, templates=templates, fragment=fragment,
                             katex=katex, views=views, pictures=pictures, edge_gradients=edge_gradients)


def _render_files(d: Derivation, *, fmt: str, notation: str, digits: int, templates: Path | None, fragment: bool,
                  katex: str | None, views: tuple[str, ...], pictures: bool,
                  edge_gradients: bool) -> dict[str, str | bytes]:
    if fragment and fmt in ("pdf", "ipynb"):
        raise UsageError(f"--fragment: a {fmt} is a whole document; use -f md, tex or html for a fragment")
    if fmt not in FORMATS:
        raise UsageError(f"-f: format '{fmt}' is not available; available: {', '.join(FORMATS)}")
    if templates is not None and not Path(templates).is_dir():
        raise UsageError(f"--templates: {templates} is not a directory")
    env = environment(Path(templates) if templates else None)
    drawn: dict[str, bytes] = {}
    figures: dict[str, tuple[str, str]] = {}
    circuit = getattr(d, "kind", None) == "circuit"
    if pictures and circuit:
        from derive.render.circuit import circuit_pictures

        drawn, figures = circuit_pictures(d, "pdf" if fmt in ("tex", "pdf") else "svg", digits=digits)
    elif pictures:
        from derive.render.pictures import draw, pictures_of

        kind = "pdf" if fmt in ("tex", "pdf") else "svg"
        for picture in pictures_of(d, edge_gradients=edge_gradients):
            file = f"{d.spec.name}-{picture.role}.{kind}"
            drawn[file] = draw(d, picture, kind, notation=notation, digits=digits, edge_gradients=edge_gradients)
            figures[picture.role] = (file, picture.caption)
    main = f"{d.spec.name}.{fmt}"
    try:
        if circuit:
            from derive.render.circuit import CircuitPage

            page = CircuitPage(d, digits=digits, figures=figures)
            markdown = env.get_template("circuit.md.j2").render(page=page, d=d, spec=d.spec,
                                                                fragment=fragment and fmt == "md")
        else:
            page = Page(d, notation=notation, digits=digits, views=views, figures=figures)
            markdown = env.get_template("worked_example.md.j2").render(page=page, d=d, spec=d.spec,
                                                                       fragment=fragment and fmt == "md")
        _verify(markdown, "md", digits, templates)
        if fmt == "md":
            return {main: markdown, **drawn}
        if fmt == "ipynb":
            from derive.render.notebook import code_cells, notebook

            if circuit:
                from derive.render.circuit import circuit_code_cells as code_cells
            return {main: notebook(markdown, code_cells(env, d), drawn, title=d.spec.title)}
        title = md_prose(d.spec.title, field="title", one_line=True)
        if fmt == "html":
            from derive.render.html import html_page, markdown_to_html

            if fragment:  # for a page of its own: \(…\) and \[…\], which KaTeX's auto-render and MathJax read
                body = markdown_to_html(markdown, drawn, math="delimiters")
                _verify(body, "html", digits, templates)
                return {main: body}
            body = markdown_to_html(markdown, drawn)
            _verify(body, "html", digits, templates)
            return {main: html_page(env, title=title, body=body, spec=d.spec, katex=katex)}
        from derive.render.tex import compile_pdf, inline, markdown_to_latex

        body = markdown_to_latex(markdown)
        _verify(body, "tex", digits, templates)
        if fragment and fmt == "tex":  # with the layout macros the body uses, so that it compiles where pasted
            return {main: env.get_template("tex_macros.tex.j2").render() + body, **drawn}
        tex = env.get_template("document.tex.j2").render(title=inline(title), body=body, spec=d.spec)
    except jinja2.TemplateError as exc:
        raise template_error(exc) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        if templates is None:  # derive's own templates: a bug in derive
            raise
        raise template_error(exc) from None
    if fmt == "tex":
        return {main: tex, **drawn}
    return {main: compile_pdf(tex, d.spec.name, drawn)}
