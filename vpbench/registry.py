"""Model registry: the name a user types -> a class, its paper, and its presets (as plain data).

Built-in models (vpbench.baselines, vpbench.models) are always loaded first; third-party packages add
models through the `vpbench.models` entry-point group and then appear everywhere a built-in does.
Duplicate names are errors, unknown names get a "did you mean".
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from vpbench.errors import VpbenchError, unknown_name

PRESET_NAMES = ("paper", "small", "smoke")
# The measurement condition that the step costs quoted in preset notes share.
STEP_COST = (
    "(forward + backward, batch 8, 10->10, one CPU thread, benchmarks/bench_models.py, idle 2-core AMD EPYC, AVX2)"
)
ENTRY_POINT_GROUP = "vpbench.models"
BUILTIN_MODULES = ("vpbench.baselines", "vpbench.models")

# Old names that still resolve, so that result records written under them keep loading.
DEPRECATED_NAMES: dict[str, str] = {"st-lstm": "predrnn", "causal-lstm": "predrnn++", "predrnnpp": "predrnn++"}


SCHEDULES = ("constant", "onecycle", "cosine", "plateau")  # what TrainSettings.schedule (and --schedule) may be


@dataclass(frozen=True)
class TrainSettings:
    """How a preset is trained: the paper's optimizer and schedule, as data the trainer reads.

    `schedule`: "constant", "onecycle" (max_lr = lr), "cosine" or "plateau" (reduce-on-plateau on the
    validation loss). `paper_budget` is the paper's training length, for the record; vpbench's own
    budget comes from the command line.
    """

    optimizer: str = "adam"  # adam | adamw | rmsprop | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    schedule: str = "constant"
    batch_size: int = 16
    grad_clip: float | None = None
    paper_budget: str = ""
    # "plateau" only: ReduceLROnPlateau's factor and patience, and how often it looks at the validation loss
    # (at the first validation after every `plateau_every_sequences` training sequences; None: every one).
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    plateau_every_sequences: int | None = None


PLATEAU_SETTINGS = ("plateau_factor", "plateau_patience", "plateau_every_sequences")


def settings_that_train(settings: dict[str, Any]) -> dict[str, Any]:
    """A record's training settings less those that cannot change its training: `paper_budget` (text for the
    record) and the plateau settings of a run without the plateau schedule. What tells two runs apart."""
    unused = ("paper_budget",) + (PLATEAU_SETTINGS if settings.get("schedule") != "plateau" else ())
    return {key: value for key, value in settings.items() if key not in unused}


@dataclass(frozen=True)
class Preset:
    """Architecture keyword arguments plus training settings; `note` says where the numbers come from."""

    model: dict[str, Any] = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    note: str = ""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type
    family: str
    paper: str
    presets: dict[str, Preset]
    description: str = ""
    source: str = "builtin"

    @property
    def loss_name(self) -> str:
        return getattr(self.cls, "loss_name", "mse")


_REGISTRY: dict[str, ModelEntry] = {}
_loaded = False


def register_model(
    name: str,
    *,
    family: str,
    paper: str,
    presets: dict[str, Preset],
    description: str = "",
):
    """Class decorator: `@register_model("predrnn", family="rnn", paper="...", presets={...})`.

    Every model needs the three presets `paper`, `small` and `smoke`.
    """

    def decorate(cls: type) -> type:
        missing = [p for p in PRESET_NAMES if p not in presets]
        if missing:
            raise ValueError(f"model '{name}' lacks presets {missing}; every model needs {PRESET_NAMES}")
        if name in _REGISTRY:
            raise ValueError(f"model name '{name}' is registered twice ({_REGISTRY[name].cls} and {cls})")
        _REGISTRY[name] = ModelEntry(
            name=name,
            cls=cls,
            family=family,
            paper=paper,
            presets=dict(presets),
            description=description or (cls.__doc__ or "").strip().split("\n")[0],
            source=_current_source,
        )
        return cls

    return decorate


_current_source = "builtin"
PLUGIN_ERRORS: list[str] = []  # one line per plugin that failed to load (also printed once to stderr)


def _load() -> None:
    """Import built-ins, then entry points. Idempotent; called by every public lookup."""
    global _loaded, _current_source
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        _current_source = f"entry point {entry_point.value}"
        try:
            loaded = entry_point.load()
            # `name = package.module` registers on import; `name = package.module:function` names a function
            # that registers when called (a class is taken as already registered by its decorator).
            if callable(loaded) and not isinstance(loaded, type):
                loaded()
        except Exception as error:  # a broken third-party plugin must not break vpbench, nor vanish silently
            message = (
                f"plugin entry point '{entry_point.name} = {entry_point.value}' failed to load "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); its models are not "
                "available — fix or uninstall that package"
            )
            PLUGIN_ERRORS.append(message)
            print(f"warning: {message}", file=sys.stderr, flush=True)
        finally:
            _current_source = "builtin"


def list_models() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def get_model_entry(name: str) -> ModelEntry:
    _load()
    name = DEPRECATED_NAMES.get(name, name)
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    return _REGISTRY[name]


def get_preset(name: str, preset: str) -> Preset:
    entry = get_model_entry(name)
    if preset not in entry.presets:
        raise unknown_name("preset", preset, entry.presets, owner=f"model '{entry.name}'")
    return entry.presets[preset]


def model_kwargs(name: str, preset: str = "small", **overrides: Any) -> dict[str, Any]:
    """The constructor arguments create_model would use (preset merged with overrides). A whole number given
    for a float argument is that float (`dropout=0` is `dropout=0.0`): one model, one spec hash."""
    defaults = get_preset(name, preset).model
    merged = dict(defaults)
    for key, value in overrides.items():
        default = defaults.get(key)
        if _is_number(default) and not _is_number(value):
            raise VpbenchError(
                f"model '{name}': argument {key} takes a number (the {preset} preset's is {default!r}), got {value!r}"
            )
        merged[key] = float(value) if isinstance(default, float) else value
    return merged


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _constructor_parameters(cls: type) -> Iterator[inspect.Parameter]:
    """Every `__init__` parameter along the MRO, most derived first: a model class hands `**kwargs` up to its
    bases, so its own signature does not show everything it takes."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            yield from inspect.signature(init).parameters.values()


def _accepted_arguments(cls: type) -> set[str]:
    """The keyword arguments a model class takes, through every `**kwargs` hand-over in its MRO."""
    frame = {"self", "channels", "height", "width", "context_length"}
    names = {
        parameter.name
        for parameter in _constructor_parameters(cls)
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    }
    return names - frame


def built_argument(name: str, config: dict[str, Any], argument: str) -> Any:
    """The value of `argument` in a model built from `config` (a spec's `model_config`): the config's, else the
    constructor's default (through `**kwargs` hand-overs), else None when the model takes no such argument.
    Why: what the training loop knows of a model (e.g. its scheduled-sampling stop) must be readable from the
    spec alone, before and without building the model, and agree with the built model."""
    if argument in config:
        return config[argument]
    for parameter in _constructor_parameters(get_model_entry(name).cls):
        if parameter.name == argument and parameter.default is not parameter.empty:
            return parameter.default
    return None


def preset_overrides(name: str, preset: str, config: dict[str, Any]) -> dict[str, Any]:
    """The arguments of `config` that differ from the preset's: what to pass back to `create_model` (or to a
    RunConfig) so that a stored model configuration is rebuilt exactly."""
    defaults = get_preset(name, preset).model
    return {key: value for key, value in config.items() if defaults.get(key, object()) != value}


def training_overrides(
    name: str, preset: str, optimizer: dict[str, Any], learning_rate: float | None
) -> dict[str, Any]:
    """The training settings of a run spec (its `optimizer` dict and `learning_rate`) that differ from the
    preset's, among those that change training: a `--schedule` or `--lr` given on the command line."""
    settings = get_preset(name, preset).train
    defaults = settings_that_train(dataclasses.asdict(settings))
    changed = {key: value for key, value in settings_that_train(optimizer).items() if defaults.get(key) != value}
    changed.pop("lr", None)  # the spec's `learning_rate` is the one the trainer uses
    if learning_rate is not None and learning_rate != settings.lr:
        changed["lr"] = learning_rate
    return changed


def create_model(
    name: str,
    preset: str = "small",
    *,
    channels: int = 1,
    height: int = 64,
    width: int = 64,
    context_length: int = 10,
    **overrides: Any,
):
    """Build a registered model for frames of (channels, height, width) and `context_length` inputs."""
    entry = get_model_entry(name)
    kwargs = model_kwargs(entry.name, preset, **overrides)
    try:
        return entry.cls(channels=channels, height=height, width=width, context_length=context_length, **kwargs)
    except TypeError as error:
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        valid = _accepted_arguments(entry.cls)
        if unexpected and unexpected.group(1) in kwargs and unexpected.group(1) not in valid:
            if not valid:
                raise VpbenchError(f"model '{entry.name}' takes no arguments; got {unexpected.group(1)}") from None
            raise unknown_name("argument", unexpected.group(1), valid, owner=f"model '{entry.name}'") from None
        raise VpbenchError(f"model '{entry.name}' (preset '{preset}') rejected its arguments: {error}") from None
    except ValueError as error:  # torch's own range checks, e.g. a dropout probability above 1
        raise VpbenchError(f"model '{entry.name}' (preset '{preset}') rejected its arguments: {error}") from None


def preset_as_dict(preset: Preset) -> dict[str, Any]:
    return {"model": dict(preset.model), "train": dataclasses.asdict(preset.train), "note": preset.note}
