"""Stage 1: read a network spec (TOML, see CONTRACT.md §1) into frozen, validated records.

Every problem is a :class:`~derive.errors.SpecError` naming the file and the field
(``network.layers[1].weights``) in one line. Nothing here differentiates or renders.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from derive.errors import SpecError, UsageError
from derive.core.activations import ACTIVATIONS, all_givens
from derive.core.layers import LAYERS, LayerContext
from derive.core.losses import LOSSES
from derive.core.optimizers import OPTIMIZERS, SGD, Optimizer
from derive.core.regularizers import REGULARIZERS, Regularizer
from derive.core.schedules import SCHEDULES, Constant, Schedule
from derive.files import read_bounded
from derive.spec.prose import prose_problem

# Always used with fullmatch: "$" alone would also match before a final newline ("abc\n").
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
LAYER_NAME_RE = re.compile(r"[a-z][a-z0-9]*")
INPUT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
#: Words that formulas in answers files read as a constant or a mathematical function
#: (derive.grade.formula); the activations add their functions (sigma, tanh, relu, ...). An input of
#: that name would be ambiguous in a formula (`w11*e`) and on the page (e^{-z}), so it is refused.
FORMULA_CONSTANTS = ("e", "pi")
FORMULA_MATH = ("exp", "log", "ln", "sqrt", "abs", "max", "min")


def formula_words() -> tuple[str, ...]:
    """The names a formula reads as a constant or a function: no input may take one."""
    acts = [name for act in ACTIVATIONS.values() for name in act.formula_functions]
    return tuple(dict.fromkeys(FORMULA_CONSTANTS + FORMULA_MATH + tuple(acts)))

#: Refuse rather than hang: the largest network `derive` will derive (documented in docs/spec.md).
#: Each is checked before any work that grows with it, and each error names the field and the limit.
MAX_UNITS_PER_LAYER = 32
MAX_INPUTS = 32
MAX_LAYERS = 16
MAX_PARAMETERS = 1024
"""Weights and biases together (the edges of the network and its biases)."""
MAX_INSTANCES = 256
MAX_PARAMETER_INSTANCES = 4096
"""Parameters × instances: the gradients a worked example writes out, one derivation per instance."""
MAX_EPOCHS = 1_000_000
MAX_TRAINING_PASSES = 100_000
"""Epochs × instances: the forward and backward passes that training runs."""
MAX_TENSOR_INPUTS = 256
"""Entries of an ``input_shape`` (a 16×16 image, one channel)."""
MAX_SPEC_BYTES = 1_000_000
MAX_RANGE_VALUES = 1_000_000
"""Numbers in one worksheet range (counted, never listed)."""
#: Exact arithmetic keeps closed forms whose size multiplies from layer to layer: its own limits.
EXACT_MAX_LAYERS = 4
EXACT_MAX_SIZE = 128
"""The product of the number of inputs and the sizes of the hidden layers, doubled for each layer past the second."""
EXACT_MAX_WORK = 256
"""That size times the number of instances."""

REDUCTIONS = ("sum", "mean")
MODES = ("batch", "online")
ARITHMETIC = ("float", "exact")
DEFAULT_WEIGHT_SYMBOLS = ("w", "v", "u", "s", "r", "q", "p", "n", "m", "k", "j", "g", "f", "d", "c", "a")
RESERVED_SYMBOLS = ("b", "e", "t", "x", "L")


@dataclass(frozen=True)
class Layer:
    """One dense layer: ``z = a_prev @ weights + bias``, ``a = activation(z)``."""

    name: str
    """Unit names are ``name + index`` (``h1``, ``h2``), or ``name_index`` when the name ends in a digit."""
    size: int
    activation: str
    """A key of :data:`derive.core.activations.ACTIVATIONS`."""
    weights: tuple[tuple[float, ...], ...]
    """Shape (previous size, size): ``weights[i][j]`` connects unit i of the previous layer to unit j."""
    bias: tuple[float, ...] | None
    """None when the layer has no bias."""
    train_bias: bool
    """False: the bias is a fixed constant, never updated and given no gradient."""
    weight_symbol: str
    """The letter of this layer's weights in the ``inout`` notation (w, v, ...)."""
    slope: float = 0.01
    """The slope of ``leaky_relu`` for z ≤ 0 (no other activation has an option)."""
    type: str = "dense"
    """A key of :data:`derive.core.layers.LAYERS`: the class that owns everything about this kind of layer."""
    eps: float = 1e-5
    """``batchnorm``: the ε under the square root (its ``weights`` are the one row γ, its ``bias`` β)."""
    in_shape: tuple[int, ...] = ()
    """The shape the layer takes in, without the instance axis: ``(previous size,)`` for dense, ``(C, H, W)``
    or ``(C, L)`` for a layer of feature maps. Empty only in a record built by hand (read as a vector)."""
    shape: tuple[int, ...] = ()
    """The shape of its output (``(size,)`` for dense); ``size`` is its number of entries."""
    kernel: tuple[int, ...] = ()
    """Convolution and pooling: the window, one length per spatial axis."""
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    """Further settings of a layer type, as (key, value) pairs (see :meth:`option`)."""

    def option(self, key: str, default: Any = None) -> Any:
        """A setting of the layer's type that has no field of its own."""
        return dict(self.options).get(key, default)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.shape or (self.size,)

    def unit_key(self, j: int) -> str:
        """The plain name of unit j (0-based): ``h1`` for layer ``h``, ``h2_1`` for layer ``h2``."""
        return f"{self.name}_{j + 1}" if self.name[-1].isdigit() else f"{self.name}{j + 1}"


@dataclass(frozen=True)
class Instance:
    """One training instance: inputs ``x`` and targets ``t`` (empty for the ``output`` loss)."""

    x: tuple[float, ...]
    t: tuple[float, ...]
    """Always a vector: a class index for ``cross_entropy`` is stored one-hot."""
    extra: tuple[tuple[str, float], ...] = ()
    """Leaves of this instance's own that a layer type gives (a dropout layer's mask): (key, value) pairs."""


@dataclass(frozen=True)
class Training:
    """Training: ``epochs`` full passes over the data, one update per (mini-)batch, in data order."""

    learning_rate: float
    epochs: int
    mode: str
    """``batch`` (mini-batches of ``batch_size``, the whole data by default) or ``online`` (batch_size 1)."""
    optimizer: Optimizer = SGD()
    schedule: Schedule = Constant()
    batch_size: int | None = None
    """None: the whole data (batch mode) or 1 (online mode)."""

    @property
    def first_rate(self) -> float:
        """The learning rate of the first update (the schedule's η_0)."""
        return self.schedule.rate(self.learning_rate, 0)

    def one_update(self, n: int) -> bool:
        """Whether an epoch over ``n`` instances is a single update from the gradient of all of them."""
        return len(self.batches(n)) == 1

    def batches(self, n: int) -> list[range]:
        """The instances (0-based) of each update of an epoch over ``n`` instances, in data order."""
        size = 1 if self.mode == "online" else (self.batch_size or n)
        return [range(i, min(i + size, n)) for i in range(0, n, size)]


SCOPES = ("forward", "loss", "output-layer", "hidden-layers", "update")


@dataclass(frozen=True)
class Range:
    """Where a worksheet draws a kind of number: the grid low, low + 10^-decimals, …, high."""

    low: float
    high: float
    decimals: int
    nonzero: bool = False


@dataclass(frozen=True)
class Worksheet:
    """The ``[worksheet]`` table: how `derive worksheet` draws variants and what the sheet asks.

    A range left out (None) gets a default that suits the layer or the loss (derive.worksheets.draw).
    """

    inputs: Range | None = None
    weights: Range | None = None
    bias: Range | None = None
    targets: Range | None = None
    scope: tuple[str, ...] = SCOPES
    decimals: int = 4
    """Answers are rounded to this many decimal places."""
    carry: bool = False
    """True: every intermediate result is rounded to ``decimals`` places and used rounded."""
    given: tuple[str, ...] = ()
    """Values handed out with the sheet: ``sigmoid`` (σ of the sums met), ``exp`` (e^{-z})."""
    degenerate: bool = False
    """True: keep draws with zero gradients, saturated units or ReLU kinks."""
    blanks: int | None = None
    """At most this many blanks per sheet, spread over the scope (None: all)."""
    partial: tuple[tuple[str, float], ...] = ()
    """Partial credit (0 to 1) in the LMS exports: ``follows_from_earlier``, ``mistakes`` (every classic
    mistake) or one mistake's name (``sign-error``, ``no-derivative``, …), as the spec gives them."""


@dataclass(frozen=True)
class Spec:
    """A whole worked example: network, parameters, data and training."""

    name: str
    title: str
    description: str
    inputs: tuple[str, ...]
    """Input names (``x1``, ``x2`` by default)."""
    loss: str
    """A key of :data:`derive.core.losses.LOSSES`."""
    reduction: str
    layers: tuple[Layer, ...]
    data: tuple[Instance, ...]
    training: Training | None
    source: str
    """Where the spec came from, for messages: a path or ``preset two-two-two``."""
    arithmetic: str = "float"
    """``float`` (53-bit) or ``exact`` (rationals and closed forms such as σ(0) = 1/2, e^{-1})."""
    worksheet: Worksheet | None = None
    """The ``[worksheet]`` table, when the spec has one."""
    regularization: Regularizer | None = None
    """``[network] regularization``: a penalty added once to the total loss, after the reduction."""
    input_shape: tuple[int, ...] | None = None
    """``[network] input_shape`` (``(C, H, W)`` or ``(C, L)``): each ``x`` is a nested list of it, stored
    flattened row-major in :attr:`Instance.x`; None for a vector of inputs."""

    @property
    def outputs(self) -> int:
        return self.layers[-1].size

    @property
    def shown_source(self) -> str:
        """Where the spec came from, as a page shared with others may say it: the file's name, not its path
        (a preset's in the page's language)."""
        if self.source.startswith("preset "):
            from derive.i18n import _

            return _("preset %(name)s") % {"name": self.source[len("preset "):]}
        return Path(self.source).name


# --------------------------------------------------------------------------- reading


def preset_names() -> list[str]:
    """The names of the built-in specs, sorted."""
    folder = resources.files("derive.spec") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_spec(spec_or_preset: str | Path) -> Spec:
    """Read a spec from a path, or a preset by name."""
    text_arg = str(spec_or_preset)
    path = Path(text_arg)
    if path.is_file():
        source = text_arg
        try:
            raw = read_bounded(path, MAX_SPEC_BYTES)
        except OSError as exc:
            raise SpecError(source, "", f"cannot read the file ({exc.strerror})") from None
        if raw is None:
            raise SpecError(source, "", f"the file is larger than {MAX_SPEC_BYTES} bytes (the limit of a spec)")
        default_name = path.stem if path.suffix == ".toml" else path.name
    elif text_arg in preset_names():
        source = f"preset {text_arg}"
        raw = (resources.files("derive.spec") / "presets" / f"{text_arg}.toml").read_bytes()
        default_name = text_arg
    else:
        close = difflib.get_close_matches(text_arg, preset_names(), n=1)
        hint = f"; did you mean the preset '{close[0]}'?" if close else "; `derive presets` lists the presets"
        raise UsageError(f"{text_arg}: no such file or preset{hint}")
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(source, "", f"the file is larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(source, "", "not a UTF-8 text file") from None
    return parse_spec(text, source=source, default_name=default_name)


def parse_spec(text: str, *, source: str = "<spec>", default_name: str | None = None) -> Spec:
    """Parse and validate the TOML text of a spec."""
    return _Reader(source).spec(read_toml(text, source), default_name)


#: Arrays and inline tables nested deeper than this are refused before parsing (tomllib recurses, and
#: whether 1000 levels overflow depends on the recursion limit other code has set).
MAX_TOML_NESTING = 64


def toml_nesting(text: str) -> int:
    """How deep ``[``/``{`` nest in a TOML text, outside strings and comments (an over-estimate is harmless)."""
    depth = deepest = 0
    quote = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if quote == '"' and c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == "\n" and quote is None:
            pass
        i += 1
    return deepest


def read_toml(text: str, source: str) -> dict:
    """The TOML document of an untrusted text; anything tomllib cannot read is one SpecError (never a crash)."""
    if toml_nesting(text) > MAX_TOML_NESTING:
        raise SpecError(source, "", f"not valid TOML for derive (arrays or tables nested too deep: more than "
                                    f"{MAX_TOML_NESTING} levels)")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "", f"not valid TOML ({exc})") from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise SpecError(source, "", "not valid TOML for derive (arrays or tables nested too deep)") from None
    except ValueError as exc:  # an integer of more digits than Python converts (4300)
        raise SpecError(source, "", f"not valid TOML for derive ({str(exc).split(';')[0]})") from None


# --------------------------------------------------------------------------- validation


class _Reader:
    """Walks the parsed TOML document, turning every problem into a SpecError with its field."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, field: str, message: str) -> SpecError:
        # one line whatever the spec holds: a quoted value's newlines and control characters as \n, \x00
        message = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
        return SpecError(self.source, field, message)

    # -- scalars

    def table(self, value: Any, field: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a table, got {_kind(value)}")
        return value

    def known_keys(self, table: dict, field: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of {', '.join(allowed)}"
                shown = _printable(key if len(key) <= 40 else key[:37] + "...")
                raise self.fail(_join(field, shown), f"unknown key{hint}")

    def require(self, table: dict, key: str, field: str) -> Any:
        if key not in table:
            raise self.fail(_join(field, key), "missing (required)")
        return table[key]

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field, f"expected a number, got {_kind(value)}")
        try:
            value = float(value)
        except OverflowError:  # an integer beyond 1.8e308
            raise self.fail(field, f"expected a finite number, got {_kind(value)}") from None
        if not math.isfinite(value):
            raise self.fail(field, f"expected a finite number, got {value}")
        return value

    def integer(self, value: Any, field: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected a whole number, got {_kind(value)}")
        if not low <= value <= high:
            raise self.fail(field, f"expected a whole number from {low} to {high}, got {_kind(value)[11:]}")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, got {_kind(value)}")
        return value

    def prose(self, value: Any, field: str, *, one_line: bool) -> str:
        """A title or description: text, `code`, *emphasis* and whitelisted math (derive.spec.prose)."""
        value = self.string(value, field)
        problem = prose_problem(value, one_line=one_line)
        if problem:
            raise self.fail(field, problem)
        return value

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, f"expected true or false, got {_kind(value)}")
        return value

    def choice(self, value: Any, field: str, choices) -> str:
        value = self.string(value, field)
        if value not in choices:
            close = difflib.get_close_matches(value, list(choices), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise self.fail(field, f"unknown value '{_printable(value)}', expected one of {', '.join(choices)}{hint}")
        return value

    # -- arrays of numbers, listed or drawn

    def vector(self, value: Any, field: str, size: int, what: str) -> tuple[float, ...]:
        if isinstance(value, dict):
            return tuple(self.draw(value, field, (size,)).tolist())
        if not isinstance(value, list):
            raise self.fail(field, f"expected a list of {size} numbers ({what}), got {_kind(value)}")
        if len(value) != size:
            raise self.fail(field, f"expected {size} numbers ({what}), got {len(value)}")
        return tuple(self.number(v, f"{field}[{i}]") for i, v in enumerate(value))

    def matrix(self, value: Any, field: str, rows: int, cols: int, what: str) -> tuple[tuple[float, ...], ...]:
        if isinstance(value, dict):
            return tuple(tuple(r) for r in self.draw(value, field, (rows, cols)).tolist())
        shape = f"a {rows}×{cols} matrix ({what})"
        if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
            raise self.fail(field, f"expected {shape} as a list of rows, got {_kind(value)}")
        if len(value) != rows or any(len(r) != cols for r in value):
            lengths = sorted({len(r) for r in value})
            if len(lengths) > 1:  # ragged: say which row is off
                k = next(i for i, r in enumerate(value) if len(r) != (cols if cols in lengths else lengths[0]))
                raise self.fail(field, f"expected {shape}, got {len(value)} rows of unequal length "
                                       f"(row {k + 1} has {len(value[k])})")
            raise self.fail(field, f"expected {shape}, got {len(value)}×{lengths[0] if lengths else 0}")
        return tuple(
            tuple(self.number(v, f"{field}[{i}][{j}]") for j, v in enumerate(row)) for i, row in enumerate(value)
        )

    def draw(self, table: dict, field: str, shape: tuple[int, ...]) -> np.ndarray:
        """A seeded draw, exactly as ``np.random.seed(seed)`` then ``np.random.<dist>(size=shape)`` gives it."""
        kind = self.choice(self.require(table, "random", field), _join(field, "random"), ("normal", "uniform"))
        allowed = {"normal": ("random", "seed", "skip", "mean", "std", "decimals"),
                   "uniform": ("random", "seed", "skip", "low", "high", "decimals")}[kind]
        self.known_keys(table, field, allowed)
        seed = self.integer(table.get("seed", 0), _join(field, "seed"), 0, 2**32 - 1)
        skip = self.integer(table.get("skip", 0), _join(field, "skip"), 0, 10**6)
        rng = np.random.RandomState(seed)
        count = int(np.prod(shape))
        if kind == "normal":
            mean = self.number(table.get("mean", 0.0), _join(field, "mean"))
            std = self.number(table.get("std", 1.0), _join(field, "std"))
            if std <= 0:
                raise self.fail(_join(field, "std"), f"expected a positive number, got {std}")
            values = rng.normal(mean, std, size=skip + count)[skip:]
        else:
            low = self.number(table.get("low", 0.0), _join(field, "low"))
            high = self.number(table.get("high", 1.0), _join(field, "high"))
            if not low < high:
                raise self.fail(_join(field, "high"), f"expected a number above low = {low}, got {high}")
            values = rng.uniform(low, high, size=skip + count)[skip:]
        if "decimals" in table:
            values = np.round(values, self.integer(table["decimals"], _join(field, "decimals"), 0, 12))
        return values.reshape(shape)

    # -- the document

    def spec(self, doc: dict, default_name: str | None) -> Spec:
        if "circuit" in doc:  # a circuit of any expression: derive.spec.circuit
            if "network" in doc:
                raise self.fail("circuit", "a spec holds a [network] or a [circuit], not both")
            from derive.spec.circuit import read_circuit

            return read_circuit(self, doc, default_name)
        self.known_keys(doc, "", ("name", "title", "description", "arithmetic", "network", "data", "training",
                                  "worksheet"))
        if "name" in doc:
            name = self.string(doc["name"], "name")
        elif default_name is not None and NAME_RE.fullmatch(default_name):
            name = default_name
        else:
            raise self.fail("name", "missing (required: lowercase letters, digits and '-')")
        if not NAME_RE.fullmatch(name) or len(name) > 64:
            raise self.fail("name", f"expected lowercase letters, digits and '-' (at most 64), got '{_printable(name)}'")
        title = self.prose(doc.get("title", f"A worked example of backpropagation: {name}"), "title", one_line=True)
        description = self.prose(doc.get("description", ""), "description", one_line=False)
        arithmetic = self.choice(doc.get("arithmetic", "float"), "arithmetic", ARITHMETIC)

        network = self.table(self.require(doc, "network", ""), "network")
        self.known_keys(network, "network", ("inputs", "input_shape", "loss", "reduction", "layers",
                                             "regularization"))
        input_shape = None
        if "input_shape" in network:
            if "inputs" in network:
                raise self.fail("network.inputs", "give either inputs (a vector) or input_shape (feature maps), "
                                                  "not both")
            input_shape = self.shape(network["input_shape"], "network.input_shape",
                                     "channels, then the axes; or time steps, then features")
            inputs = input_names(input_shape)
        else:
            inputs = self.inputs(self.require(network, "inputs", "network"), "network.inputs")
        loss = self.choice(self.require(network, "loss", "network"), "network.loss", LOSSES)
        reduction = self.choice(network.get("reduction", "sum"), "network.reduction", REDUCTIONS)
        layers = self.layers(self.require(network, "layers", "network"), input_shape or (len(inputs),))
        data = self.data(doc.get("data"), len(inputs), layers[-1], loss, input_shape)
        for k, layer in enumerate(layers):  # a layer with values per instance (dropout's masks) checks them
            LAYERS[layer.type].check_data(self, layer, f"network.layers[{k}]", data)
        data = tuple(dataclasses.replace(inst, extra=tuple(pair for layer in layers
                                                           for pair in LAYERS[layer.type].extra(layer, n)))
                     for n, inst in enumerate(data))
        training = self.training(doc["training"], len(data)) if "training" in doc else None
        regularization = (self.regularization(network["regularization"], "network.regularization")
                          if "regularization" in network else None)
        self.coupled_batches(layers, data, training)
        problem = LOSSES[loss].check_outputs(layers[-1].size) or LOSSES[loss].check_activation(
            ACTIVATIONS[layers[-1].activation])
        if problem:
            raise self.fail("network.loss", problem)
        worksheet = self.worksheet(doc["worksheet"]) if "worksheet" in doc else None
        n_params = sum(_count(layer.weights) + (len(layer.bias) if layer.bias is not None else 0)
                       for layer in layers)
        if n_params * len(data) > MAX_PARAMETER_INSTANCES:
            raise self.fail("data", f"{len(data)} instances × {n_params} parameters is more than "
                                    f"{MAX_PARAMETER_INSTANCES}, the limit of a readable worked example "
                                    "(each instance derives every gradient)")
        if training is not None and training.epochs * len(data) > MAX_TRAINING_PASSES:
            raise self.fail("training.epochs", f"{training.epochs} epochs × {len(data)} instances is more than "
                                               f"{MAX_TRAINING_PASSES} passes, the limit of training")
        if arithmetic == "exact":
            coupling = [layer.name for layer in layers if LAYERS[layer.type].couples]
            if coupling:
                raise self.fail("arithmetic", f"exact arithmetic is not available with layer '{coupling[0]}' "
                                              "(batch statistics under a square root); use arithmetic = \"float\"")
            if not all(LAYERS[layer.type].exact for layer in layers):
                raise self.fail("arithmetic", f"exact arithmetic takes only "
                                              f"{', '.join(n for n, c in LAYERS.items() if c.exact)} layers; use "
                                              "arithmetic = \"float\"")
            self.exact_limits(len(inputs), layers, len(data))
        return Spec(name=name, title=title, description=description, inputs=inputs, loss=loss,
                    reduction=reduction, layers=layers, data=data, training=training, source=self.source,
                    arithmetic=arithmetic, worksheet=worksheet, regularization=regularization,
                    input_shape=input_shape)

    def exact_limits(self, n_inputs: int, layers: tuple[Layer, ...], n_data: int) -> None:
        """Exact closed forms grow as the product of the widths they pass through: refuse what would take minutes."""
        why = "; use arithmetic = \"float\""
        if len(layers) > EXACT_MAX_LAYERS:
            raise self.fail("arithmetic", f"exact arithmetic takes at most {EXACT_MAX_LAYERS} layers, "
                                          f"got {len(layers)}{why}")
        size = math.prod([n_inputs] + [layer.size for layer in layers[:-1]]) * 2 ** max(0, len(layers) - 2)
        if size > EXACT_MAX_SIZE:
            raise self.fail("arithmetic", f"exact arithmetic takes networks whose inputs × hidden sizes is at most "
                                          f"{EXACT_MAX_SIZE} (doubled for each layer past the second), got {size}{why}")
        if size * n_data > EXACT_MAX_WORK:
            raise self.fail("arithmetic", f"exact arithmetic: inputs × hidden sizes × instances is at most "
                                          f"{EXACT_MAX_WORK}, got {size} × {n_data}{why}")

    def inputs(self, value: Any, field: str) -> tuple[str, ...]:
        if isinstance(value, list):
            if len(value) > MAX_INPUTS:
                raise self.fail(field, f"at most {MAX_INPUTS} inputs are supported, got {len(value)}")
            names = tuple(self.string(v, f"{field}[{i}]") for i, v in enumerate(value))
            for i, n in enumerate(names):
                if not INPUT_NAME_RE.fullmatch(n) or len(n) > 16:
                    raise self.fail(f"{field}[{i}]", f"expected a name of letters then digits (at most 16), "
                                                     f"got {_kind(n)}")
                if n in formula_words():
                    raise self.fail(f"{field}[{i}]", f"'{n}' is a constant or function in formulas "
                                                     f"({', '.join(formula_words())}); choose another name")
            if len(set(names)) != len(names):
                raise self.fail(field, "input names must be distinct")
            if not names:
                raise self.fail(field, "expected at least one input")
            return names
        count = self.integer(value, field, 1, MAX_INPUTS)
        return tuple(f"x{i + 1}" for i in range(count))

    def layers(self, value: Any, in_shape: tuple[int, ...]) -> tuple[Layer, ...]:
        """Each ``[[network.layers]]`` table, read by the class of its ``type`` (derive.core.layers)."""
        field = "network.layers"
        if not isinstance(value, list) or not value:
            raise self.fail(field, "expected at least one [[network.layers]] table")
        if len(value) > MAX_LAYERS:
            raise self.fail(field, f"at most {MAX_LAYERS} layers are supported, got {len(value)}")
        default_names = ["y"] if len(value) == 1 else (
            ["h"] + ["y"] if len(value) == 2 else [f"h{k + 1}" for k in range(len(value) - 1)] + ["y"])
        layers: list[Layer] = []
        shape = in_shape
        n_params = 0
        for k, raw in enumerate(value):
            f = f"{field}[{k}]"
            table = self.table(raw, f)
            kind = self.choice(table.get("type", "dense"), f"{f}.type", LAYERS)
            cls = LAYERS[kind]
            self.known_keys(table, f, ("name", "type") + cls.keys)
            name = self.string(table.get("name", default_names[k]), f"{f}.name")
            if not LAYER_NAME_RE.fullmatch(name) or name in ("x", "t", "e", "b", "L"):
                raise self.fail(f"{f}.name", f"expected a lowercase name (not x, t, e or b), got '{_printable(name)}'")
            if any(layer.name == name for layer in layers):
                raise self.fail(f"{f}.name", f"layer name '{name}' is used twice")
            with_weights = sum(1 for layer in layers if LAYERS[layer.type].has_weights)
            ctx = LayerContext(index=k, field=f, name=name, in_shape=shape, earlier=tuple(layers),
                               symbol=DEFAULT_WEIGHT_SYMBOLS[with_weights % len(DEFAULT_WEIGHT_SYMBOLS)],
                               source="input" if k == 0 else "unit of layer " + layers[-1].name,
                               last=k == len(value) - 1)
            layer = cls.parse(self, table, ctx)
            n_params += _count(layer.weights) + (len(layer.bias) if layer.bias is not None else 0)
            if n_params > MAX_PARAMETERS:
                raise self.fail(f, f"the network has more than {MAX_PARAMETERS} parameters (weights and biases), "
                                   "the limit of a readable worked example")
            layers.append(layer)
            shape = layer.out_shape
        last = layers[-1]
        if not LAYERS[last.type].can_output:
            raise self.fail(f"{field}[{len(layers) - 1}].type", f"the output layer must be one of "
                                                                f"{', '.join(n for n, c in LAYERS.items() if c.can_output)} "
                                                                f"(its units feed the loss), got {last.type}")
        return tuple(layers)

    def coupled_batches(self, layers: tuple[Layer, ...], data: tuple[Instance, ...],
                        training: Training | None) -> None:
        """A layer that normalizes over the batch needs at least 2 instances in every batch (PyTorch refuses 1)."""
        coupling = [layer for layer in layers if LAYERS[layer.type].couples]
        if not coupling:
            return
        why = (f"layer '{coupling[0].name}' ({coupling[0].type}) normalizes each feature over the batch, and a batch "
               "of 1 instance has variance 0 (every normalized value is 0, the layer passes no gradient; "
               "PyTorch refuses it too): give at least 2 instances")
        if len(data) < 2:
            raise self.fail("data", f"1 instance: {why}")
        if training is not None:
            sizes = [len(rows) for rows in training.batches(len(data))]
            if min(sizes) < 2:
                field = "training.mode" if training.mode == "online" else "training.batch_size"
                raise self.fail(field, f"an epoch of {len(data)} instances makes a batch of 1 (batch sizes "
                                       f"{', '.join(map(str, sizes))}): {why} in every batch")

    # -- pieces the layer types read their keys with (derive.core.layers)

    def shape(self, value: Any, field: str, what: str) -> tuple[int, ...]:
        """A tensor shape: a list of 2 or 3 positive whole numbers ([C, L] or [C, H, W])."""
        if not isinstance(value, list) or len(value) not in (2, 3):
            raise self.fail(field, f"expected [C, H, W], [C, L] or a sequence [T, F] ({what}), got {_kind(value)}")
        shape = tuple(self.integer(v, f"{field}[{i}]", 1, MAX_TENSOR_INPUTS) for i, v in enumerate(value))
        if math.prod(shape) > MAX_TENSOR_INPUTS:
            raise self.fail(field, f"at most {MAX_TENSOR_INPUTS} inputs are supported, got {'×'.join(map(str, shape))} = "
                                   f"{math.prod(shape)}")
        return shape

    def window(self, value: Any, field: str, dims: int, low: int, high: int) -> tuple[int, ...]:
        """A kernel, stride or padding: one whole number for every spatial axis, or a list of ``dims`` of them."""
        if isinstance(value, list):
            if len(value) != dims:
                raise self.fail(field, f"expected one whole number or a list of {dims}, got {_kind(value)}")
            return tuple(self.integer(v, f"{field}[{i}]", low, high) for i, v in enumerate(value))
        return (self.integer(value, field, low, high),) * dims

    def tensor(self, value: Any, field: str, shape: tuple[int, ...], what: str) -> tuple:
        """Nested lists of numbers of exactly ``shape`` (or a random table), as nested tuples."""
        if isinstance(value, dict):
            return _nest(self.draw(value, field, shape).tolist())
        return self._nested(value, field, shape, what, shape)

    def _nested(self, value: Any, field: str, shape: tuple[int, ...], what: str, whole: tuple[int, ...]) -> tuple:
        if not shape:
            return self.number(value, field)
        dims = "×".join(map(str, whole))
        if not isinstance(value, list):
            raise self.fail(field, f"expected nested lists of shape {dims} ({what}), got {_kind(value)}")
        if len(value) != shape[0]:
            raise self.fail(field, f"expected {shape[0]} entr{'y' if shape[0] == 1 else 'ies'} here (nested lists of shape {dims}: {what}), "
                                   f"got {len(value)}")
        return tuple(self._nested(v, f"{field}[{i}]", shape[1:], what, whole) for i, v in enumerate(value))

    def weight_symbol(self, table: dict, ctx: "LayerContext") -> str:
        f = f"{ctx.field}.weight_symbol"
        symbol = self.string(table.get("weight_symbol", ctx.symbol), f)
        if not re.fullmatch(r"[a-zA-Z]", symbol) or symbol in RESERVED_SYMBOLS:
            raise self.fail(f, f"expected one letter other than b, e, t, x, L; got '{_printable(symbol)}'")
        if any(layer.weight_symbol == symbol for layer in ctx.earlier):
            raise self.fail(f, f"'{symbol}' already names the weights of another layer")
        return symbol

    def activation(self, table: dict, ctx: "LayerContext", *, elementwise: bool = False) -> tuple[str, float]:
        """The layer's ``activation`` (required) and the ``slope`` of those that take one."""
        f = ctx.field
        activation = self.choice(self.require(table, "activation", f), f"{f}.activation", ACTIVATIONS)
        if elementwise and not ACTIVATIONS[activation].elementwise:
            kind = table.get("type", "dense")
            raise self.fail(f"{f}.activation", f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind} layer takes an "
                                               f"activation applied entry by entry, not {activation}")
        slope = 0.01
        if "slope" in table:
            if "slope" not in ACTIVATIONS[activation].options:
                takes = [name for name, act in ACTIVATIONS.items() if "slope" in act.options]
                raise self.fail(f"{f}.slope", f"only {' and '.join(takes)} take{'s' if len(takes) == 1 else ''} "
                                              f"a slope, not {activation}")
            slope = self.number(table["slope"], f"{f}.slope")
        return activation, slope

    def bias(self, table: dict, ctx: "LayerContext", size: int, what: str) -> tuple[tuple[float, ...] | None, bool]:
        """The ``bias`` (None when absent or false) and ``train_bias``."""
        f = ctx.field
        bias_raw = table.get("bias", False)
        if bias_raw is False:
            bias = None
        elif isinstance(bias_raw, bool):
            raise self.fail(f"{f}.bias", "expected a list of numbers, a number, a random table or false")
        elif isinstance(bias_raw, (int, float)):
            bias = (self.number(bias_raw, f"{f}.bias"),) * size
        else:
            bias = self.vector(bias_raw, f"{f}.bias", size, what)
        return bias, self.boolean(table.get("train_bias", True), f"{f}.train_bias")

    def data(self, value: Any, n_inputs: int, output: Layer, loss: str,
             input_shape: tuple[int, ...] | None = None) -> tuple[Instance, ...]:
        field = "data"
        if value is None or (isinstance(value, list) and not value):
            raise self.fail(field, "expected at least one [[data]] table (an instance with x and t)")
        if not isinstance(value, list):
            raise self.fail(field, f"expected [[data]] tables, got {_kind(value)}")
        if len(value) > MAX_INSTANCES:
            raise self.fail(field, f"at most {MAX_INSTANCES} instances are supported, got {len(value)}")
        instances = []
        for n, raw in enumerate(value):
            f = f"{field}[{n}]"
            table = self.table(raw, f)
            self.known_keys(table, f, ("x", "t"))
            if input_shape is not None:
                x = tuple(_flat(self._nested(self.require(table, "x", f), f"{f}.x", input_shape,
                                             "channels, then the axes; or time steps, then features",
                                             input_shape)))
            else:
                x = self.vector(self.require(table, "x", f), f"{f}.x", n_inputs, "one per input")
            if not LOSSES[loss].needs_targets:
                if "t" in table:
                    raise self.fail(f"{f}.t", f"the '{loss}' loss takes no targets")
                t: tuple[float, ...] = ()
            else:
                t = self.targets(self.require(table, "t", f), f"{f}.t", output, loss)
            instances.append(Instance(x=x, t=t))
        return tuple(instances)

    def targets(self, value: Any, field: str, output: Layer, loss: str) -> tuple[float, ...]:
        K = output.size
        if LOSSES[loss].class_index and isinstance(value, int) and not isinstance(value, bool):
            index = self.integer(value, field, 1, K)
            return tuple(1.0 if k == index - 1 else 0.0 for k in range(K))
        t = self.vector(value, field, K, f"one per output unit of layer {output.name}")
        problem = LOSSES[loss].check_targets(t)
        if problem:
            raise self.fail(field, problem)
        return t

    def training(self, value: Any, n_data: int) -> Training:
        field = "training"
        table = self.table(value, field)
        own = ("learning_rate", "epochs", "mode", "optimizer", "batch_size", "schedule")
        name = self.choice(table.get("optimizer", "sgd"), "training.optimizer", OPTIMIZERS)
        cls = OPTIMIZERS[name]
        options = cls.options()
        others = {k for c in OPTIMIZERS.values() for k in c.options()} - set(options)
        for key in table:
            if key in others:
                raise self.fail(_join(field, key), f"does not apply to optimizer '{name}' (it takes "
                                                   f"{', '.join(options) or 'no options'})")
        self.known_keys(table, field, own + tuple(options))
        rate = self.number(table.get("learning_rate", cls.default_lr), "training.learning_rate")
        if rate <= 0:
            raise self.fail("training.learning_rate", f"expected a positive number, got {rate:g}")
        epochs = self.integer(table.get("epochs", 1), "training.epochs", 0, MAX_EPOCHS)
        mode = self.choice(table.get("mode", "batch"), "training.mode", MODES)
        batch_size = None
        if "batch_size" in table:
            batch_size = self.integer(table["batch_size"], "training.batch_size", 1, MAX_INSTANCES)
            if mode == "online" and batch_size != 1:
                raise self.fail("training.batch_size", f"mode = \"online\" is batch_size = 1, got {batch_size}")
        optimizer = cls(**self.options(table, field, options, ()))
        optimizer.check(lambda key, message: self.fail(_join(field, key), message))
        schedule = Constant()
        if "schedule" in table:
            schedule = self.kind_table(table["schedule"], "training.schedule", SCHEDULES)
        return Training(learning_rate=rate, epochs=epochs, mode=mode, optimizer=optimizer, schedule=schedule,
                        batch_size=batch_size)

    def options(self, table: dict, field: str, defaults: dict, required: tuple[str, ...]) -> dict:
        """The options of a registry class, read by the type of their defaults (absent ones take the default)."""
        out = {}
        for key, default in defaults.items():
            f = _join(field, key)
            if key not in table:
                if key in required:
                    raise self.fail(f, "missing (required)")
                out[key] = default
            elif isinstance(default, bool):
                out[key] = self.boolean(table[key], f)
            elif isinstance(default, int):
                out[key] = self.integer(table[key], f, 1, MAX_EPOCHS)
            elif isinstance(default, tuple):
                out[key] = self.vector(table[key], f, len(default), f"as {list(default)} by default")
            else:
                out[key] = self.number(table[key], f)
        return out

    def kind_table(self, value: Any, field: str, registry: dict):
        """``{ kind = "...", options }``: an instance of the registry's class of that kind."""
        table = self.table(value, field)
        kind = self.choice(self.require(table, "kind", field), _join(field, "kind"), registry)
        cls = registry[kind]
        options = cls.options()
        self.known_keys(table, field, ("kind",) + tuple(options))
        made = cls.from_options(self.options(table, field, options, cls.required)) if hasattr(cls, "from_options") \
            else cls(**self.options(table, field, options, cls.required))
        made.check(lambda key, message: self.fail(_join(field, key), message))
        return made

    def regularization(self, value: Any, field: str) -> Regularizer:
        return self.kind_table(value, field, REGULARIZERS)

    def range(self, value: Any, field: str) -> Range:
        table = self.table(value, field)
        self.known_keys(table, field, ("low", "high", "decimals", "nonzero"))
        low = self.number(self.require(table, "low", field), _join(field, "low"))
        high = self.number(self.require(table, "high", field), _join(field, "high"))
        if not low <= high:
            raise self.fail(_join(field, "high"), f"expected a number not below low = {low:g}, got {high:g}")
        if max(abs(low), abs(high)) > 1e6:
            raise self.fail(field, "expected a range within ±1e6 (numbers a person computes with)")
        decimals = self.integer(table.get("decimals", 0), _join(field, "decimals"), 0, 4)
        nonzero = self.boolean(table.get("nonzero", False), _join(field, "nonzero"))
        step = 10.0 ** -decimals
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        count = max(0, last - first + 1) - (1 if nonzero and first <= 0 <= last else 0)  # counted, never listed
        if count > MAX_RANGE_VALUES:
            raise self.fail(_join(field, "decimals"), f"the range holds {count} numbers with {decimals} decimals, "
                                                      f"more than the limit of {MAX_RANGE_VALUES}; use fewer decimals "
                                                      "or a narrower range")
        if count == 0:
            raise self.fail(field, f"no number with {decimals} decimals lies in [{low:g}, {high:g}]"
                                   + (" apart from 0" if nonzero else ""))
        return Range(low=low, high=high, decimals=decimals, nonzero=nonzero)

    def worksheet(self, value: Any) -> Worksheet:
        field = "worksheet"
        table = self.table(value, field)
        self.known_keys(table, field, ("inputs", "weights", "bias", "targets", "scope", "decimals", "carry",
                                       "given", "degenerate", "partial", "blanks"))
        ranges = {k: self.range(table[k], _join(field, k)) for k in ("inputs", "weights", "bias", "targets")
                  if k in table}
        scope = self.scope(table.get("scope", list(SCOPES)), "worksheet.scope")
        given = table.get("given", [])
        offered = all_givens()
        if not isinstance(given, list):
            raise self.fail("worksheet.given", f"expected a list of {' and '.join(offered)}, got {_kind(given)}")
        given = tuple(self.choice(g, f"worksheet.given[{i}]", offered) for i, g in enumerate(given))
        return Worksheet(**ranges, scope=scope, given=given,
                         decimals=self.integer(table.get("decimals", 4), "worksheet.decimals", 0, 8),
                         carry=self.boolean(table.get("carry", False), "worksheet.carry"),
                         degenerate=self.boolean(table.get("degenerate", False), "worksheet.degenerate"),
                         partial=self.partial(table.get("partial", {}), "worksheet.partial"),
                         blanks=(self.integer(table["blanks"], "worksheet.blanks", 1, 10000)
                                 if "blanks" in table else None))

    def partial(self, value: Any, field: str) -> tuple[tuple[str, float], ...]:
        """``{ follows_from_earlier = 0.5, sign-error = 0, … }``: names (checked against the mistakes later)
        and credits from 0 to 1."""
        table = self.table(value, field)
        out = []
        for key, credit in table.items():
            if not re.fullmatch(r"[a-z][a-z0-9_.-]{0,40}", key):
                raise self.fail(_join(field, key), "expected a mistake's name in lower case (like sign-error)")
            credit = self.number(credit, _join(field, key))
            if not 0 <= credit <= 1:
                raise self.fail(_join(field, key), f"expected a credit from 0 to 1, got {credit:g}")
            out.append((key, credit))
        return tuple(out)

    def scope(self, value: Any, field: str) -> tuple[str, ...]:
        """A list of parts (or "all"), in the order SCOPES lists them."""
        if value == "all":
            return SCOPES
        if not isinstance(value, list) or not value:
            raise self.fail(field, f"expected \"all\" or a list of some of {', '.join(SCOPES)}, got {_kind(value)}")
        chosen = {self.choice(v, f"{field}[{i}]", SCOPES + ("all",)) for i, v in enumerate(value)}
        return SCOPES if "all" in chosen else tuple(s for s in SCOPES if s in chosen)


def parse_scope(text: str, source: str = "--scope") -> tuple[str, ...]:
    """The --scope option: comma-separated parts, or all."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return _Reader(source).scope(parts if parts != ["all"] else "all", "scope")


def dump_spec(spec: Spec, comment: str = "") -> str:
    """The spec as TOML that reads back to the same spec (without its [worksheet] table)."""
    def num(x: float) -> str:
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))

    def vec(v) -> str:
        return "[" + ", ".join(num(x) for x in v) + "]"

    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"name = {_toml_string(spec.name)}", f"title = {_toml_string(spec.title)}"]
    if spec.description:
        lines.append(f"description = {_toml_string(spec.description)}")
    if spec.arithmetic != "float":
        lines.append(f'arithmetic = "{spec.arithmetic}"')
    default_inputs = tuple(f"x{i + 1}" for i in range(len(spec.inputs)))
    inputs = str(len(spec.inputs)) if spec.inputs == default_inputs else (
        "[" + ", ".join(_toml_string(n) for n in spec.inputs) + "]")
    if spec.input_shape is not None:
        inputs = "input_shape = " + vec(spec.input_shape)
    else:
        inputs = f"inputs = {inputs}"
    lines += ["", "[network]", inputs, f'loss = "{spec.loss}"', f'reduction = "{spec.reduction}"']
    if spec.regularization is not None:
        lines.append(f"regularization = {_inline(spec.regularization.settings(), num)}")
    with_weights = 0
    for layer in spec.layers:
        cls = LAYERS[layer.type]
        lines += ["", "[[network.layers]]", f'name = "{layer.name}"'] + (
            [f'type = "{layer.type}"'] if layer.type != "dense" else [])
        lines += cls.dump(layer, num, DEFAULT_WEIGHT_SYMBOLS[with_weights % len(DEFAULT_WEIGHT_SYMBOLS)])
        with_weights += cls.has_weights
    for inst in spec.data:
        x = vec(inst.x) if spec.input_shape is None else _value(np.reshape(inst.x, spec.input_shape).tolist(), num)
        lines += ["", "[[data]]", f"x = {x}"]
        if LOSSES[spec.loss].needs_targets:
            lines.append(f"t = {vec(inst.t)}")
    if spec.training is not None:
        t = spec.training
        lines += ["", "[training]", f"learning_rate = {num(t.learning_rate)}", f"epochs = {t.epochs}",
                  f'mode = "{t.mode}"']
        if t.optimizer != SGD():
            lines.append(f'optimizer = "{t.optimizer.name}"')
            lines += [f"{k} = {_value(v, num)}" for k, v in t.optimizer.settings().items()]
        if t.batch_size is not None:
            lines.append(f"batch_size = {t.batch_size}")
        if t.schedule != Constant():
            lines.append(f"schedule = {_inline(t.schedule.settings(), num)}")
    return "\n".join(lines) + "\n"


def _value(v: Any, num) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x, num) for x in v) + "]"
    return num(v)


def _inline(settings: dict, num) -> str:
    """An inline TOML table."""
    return "{ " + ", ".join(f"{k} = {_value(v, num)}" for k, v in settings.items()) + " }"


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # JSON's escapes are TOML's


def _nest(values) -> tuple:
    """Nested lists as nested tuples."""
    return tuple(_nest(v) for v in values) if isinstance(values, list) else values


def _count(nested) -> int:
    """The number of numbers in nested tuples."""
    return sum(_count(v) for v in nested) if isinstance(nested, (tuple, list)) else 1


def _flat(nested) -> list:
    """Nested tuples as one list, row-major."""
    return [x for v in nested for x in _flat(v)] if isinstance(nested, (tuple, list)) else [nested]


def input_names(shape: tuple[int, ...]) -> tuple[str, ...]:
    """The inputs of a tensor input, row-major: ``x1_2_3`` is channel 1, row 2, column 3."""
    import itertools

    return tuple("x" + "_".join(str(i + 1) for i in idx) for idx in itertools.product(*map(range, shape)))


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"the string '{_printable(shown)}'"
    if isinstance(value, int) and abs(value) >= 10**20:
        return f"the number {str(value)[:12]}... ({len(str(abs(value)))} digits)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _printable(text: str) -> str:
    """Text for a one-line message: newlines, tabs and other control characters escaped (\\n)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
