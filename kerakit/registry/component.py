"""One registered component: its object, where it comes from, and its parameters.

A component may be *indexed*: its names, parameters, summary and metadata come
from the component index (:mod:`kerakit.registry.index`) and its plugin's
module is imported only when :attr:`Component.obj` is first needed, such as by
:meth:`Component.create`.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kerakit.errors import InvalidParameterError, InvalidRegistrationError, PluginError
from kerakit.hookspecs import singular
from kerakit.registry.names import SHORT_NAME

__all__ = ["Component", "Facts", "Parameter", "PluginSource", "facts_of", "make_component",
           "summary_of"]


@dataclass(frozen=True)
class Parameter:
    """One parameter of a component, read from its signature."""

    name: str
    default: Any = inspect.Parameter.empty
    annotation: str = ""

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "required": self.required,
            "default": None if self.required else _jsonable(self.default),
            "annotation": self.annotation,
        }


@dataclass(frozen=True)
class Facts:
    """What the index records about a component, so that its module need not be imported."""

    parameters: tuple[Parameter, ...]
    valid_parameter_names: tuple[str, ...]
    accepts_any_parameter: bool
    doc: str
    class_name: str


class PluginSource(Protocol):
    """Where an indexed component's object comes from: its plugin, imported on demand."""

    imported: bool

    def resolve(self, kind: str, name: str) -> Callable[..., Any]: ...


@dataclass(frozen=True)
class Component:
    """A registered component and where it comes from.

    Attributes:
        kind: One of :data:`kerakit.hookspecs.KINDS`.
        name: The short name, e.g. ``"conv_block"``.
        plugin: The providing plugin's name, e.g. ``"kerakit"``.
        summary: One line, from the docstring unless given.
        distribution: The pip distribution that ships the plugin, if any.
        version: That distribution's version, if any.
        metadata: Free metadata given to ``register``.

    The class or factory is :attr:`obj`. An indexed component has none until
    it is needed; then its plugin is imported (see :mod:`kerakit.registry.index`).
    """

    kind: str
    name: str
    plugin: str
    _obj: Callable[..., Any] | None = None
    summary: str = ""
    distribution: str | None = None
    version: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    _facts: Facts | None = field(default=None, compare=False, repr=False)
    _source: PluginSource | None = field(default=None, compare=False, repr=False)

    @property
    def obj(self) -> Callable[..., Any]:
        """The class or factory; importing the plugin first if only its index was read.

        Raises:
            PluginError: if the plugin fails when it is imported (it is then quarantined).
        """
        if self._obj is not None:
            return self._obj
        if self._source is None:
            raise PluginError(f"The {singular(self.kind)} `{self.qualified_name}` has no object.")
        return self._source.resolve(self.kind, self.name)

    @property
    def imported(self) -> bool:
        """Whether the object is at hand (its plugin's module was imported)."""
        return self._obj is not None or (self._source is not None and self._source.imported)

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}.{self.name}"

    @property
    def defaults(self) -> dict[str, Any]:
        """Defaults given at registration, overriding the signature's."""
        return dict(self.metadata.get("defaults") or {})

    @property
    def facts(self) -> Facts:
        """Parameters, docstring and class name: from the index, or read from :attr:`obj`."""
        return self._facts if self._facts is not None else facts_of(self)

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self.facts.parameters

    @property
    def accepts_any_parameter(self) -> bool:
        """Whether a factory function takes ``**kwargs`` (so names cannot be checked)."""
        return self.facts.accepts_any_parameter

    @property
    def valid_parameter_names(self) -> list[str]:
        """Parameter names the factory accepts; for a class, those of every ``__init__``.

        A class forwarding ``**kwargs`` to its base (as Keras layers do) accepts
        the base's named parameters too, such as ``name`` and ``dtype``.
        """
        return list(self.facts.valid_parameter_names)

    @property
    def doc(self) -> str:
        """The object's full docstring."""
        return self.facts.doc

    @property
    def class_name(self) -> str:
        """The object's ``__name__``, as a Keras config's ``class_name`` gives it."""
        return self.facts.class_name

    def check_parameters(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidParameterError` for a parameter the factory lacks.

        Also refuses a string where the signature wants a number, such as
        ``filters="big"`` (an error the factory would otherwise raise from deep inside).

        Raises:
            InvalidParameterError: naming the component, the bad parameter,
                the closest valid one and all valid ones; or the parameter whose
                value is a string where a number is expected.
        """
        if any(isinstance(v, str) for v in params.values()):
            by_name = {p.name: p for p in self.parameters}
            for key, value in params.items():
                expected = _number_expected(by_name.get(key))
                if expected and isinstance(value, str):
                    raise InvalidParameterError(
                        f"Invalid value for parameter `{key}` of {singular(self.kind)} "
                        f"`{self.qualified_name}`. Expected {expected}. Received: {key}={value!r}"
                    )
        if self.accepts_any_parameter:
            return
        valid = self.valid_parameter_names
        for key in params:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                raise InvalidParameterError(
                    f"Unknown parameter `{key}` for {singular(self.kind)} "
                    f"`{self.qualified_name}`.{hint} Expected one of: "
                    f"{', '.join(valid) or '(no parameters)'}. Received: {key}={params[key]!r}"
                )

    def create(self, **params: Any) -> Any:
        """Check ``params`` and call the factory with them."""
        self.check_parameters(params)
        return self.obj(**{**self.defaults, **params})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, as ``kerakit components --json`` prints it."""
        return {
            "name": self.qualified_name,
            "short_name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "summary": self.summary,
        }


def facts_of(component: Component) -> Facts:
    """Read a component's :class:`Facts` from its object (which imports its plugin)."""
    obj = component.obj
    defaults = component.defaults
    parameters = tuple(
        Parameter(p.name, defaults[p.name], p.annotation) if p.name in defaults else p
        for p in _signature_parameters(obj)
    )
    names = [p.name for p in parameters]
    if inspect.isclass(obj):
        for base in obj.__mro__[1:]:
            if base is object or "__init__" not in vars(base):
                continue
            for p in _signature_parameters(base.__init__):
                if p.name not in names:
                    names.append(p.name)
    return Facts(
        parameters=parameters,
        valid_parameter_names=tuple(names),
        accepts_any_parameter=_accepts_any_parameter(obj),
        doc=inspect.getdoc(obj) or "",
        class_name=getattr(obj, "__name__", "") or "",
    )


def _accepts_any_parameter(obj: Any) -> bool:
    if inspect.isclass(obj):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return True
    return any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def _number_expected(parameter: Parameter | None) -> str | None:
    """"an int", "a float" or "a number" when the signature wants only numbers (or None)."""
    if parameter is None:
        return None
    if parameter.annotation:
        kinds = {t.strip() for t in parameter.annotation.split("|")} - {"None"}
    elif isinstance(parameter.default, (int, float)) and not isinstance(parameter.default, bool):
        kinds = {type(parameter.default).__name__}
    else:
        return None
    if not kinds or not kinds <= {"int", "float"}:
        return None
    return {"int": "an int", "float": "a float"}[kinds.pop()] if len(kinds) == 1 else "a number"


def summary_of(obj: Any) -> str:
    """The first line of ``obj``'s docstring, or ``""``."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def make_component(
    kind: str,
    name: object,
    obj: object,
    plugin: str,
    distribution: str | None = None,
    version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Component:
    """Validate one ``register(name, obj, **metadata)`` call and build its record.

    Raises:
        InvalidRegistrationError: for a bad name, a non-callable or bad metadata.
    """
    if not isinstance(name, str) or not SHORT_NAME.match(name):
        raise InvalidRegistrationError(
            f"Invalid name in register() for a {singular(kind)}. Expected a lowercase name of "
            f"letters, digits and underscores, starting with a letter. Received: name={name!r}"
        )
    if not callable(obj):
        raise InvalidRegistrationError(
            f"Invalid object in register({name!r}, ...). Expected a class or factory "
            f"(a callable). Received: {type(obj).__name__} {obj!r:.60}"
        )
    metadata = dict(metadata or {})
    summary = metadata.pop("summary", None)
    if summary is not None and not isinstance(summary, str):
        raise InvalidRegistrationError(
            f"Invalid summary in register({name!r}, ...). Expected a string. "
            f"Received: summary={summary!r}"
        )
    return Component(
        kind=kind,
        name=name,
        plugin=plugin,
        _obj=obj,
        summary=summary if summary is not None else summary_of(obj),
        distribution=distribution,
        version=version,
        metadata=metadata,
    )


def _signature_parameters(obj: Callable[..., Any]) -> tuple[Parameter, ...]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ()
    out = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
            continue
        annotation = "" if p.annotation is p.empty else _annotation_text(p.annotation)
        out.append(Parameter(p.name, p.default, annotation))
    return tuple(out)


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
