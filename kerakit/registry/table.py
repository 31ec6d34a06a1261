"""The registry of components: one table per kind, lookups, helpful errors.

A :class:`Registry` maps each kind to its components, keyed by qualified
name ``<plugin>.<name>``. Short names resolve when exactly one plugin provides
them. The registry is filled by :mod:`kerakit.registry.discovery`; users normally reach it
through :func:`kerakit.components` and :func:`kerakit.get_component`.

A component may be *indexed*: its names, parameters, summary and metadata come
from the component index (:mod:`kerakit.registry.index`) and its plugin's
module is imported only when :attr:`Component.obj` is first needed, such as by
:meth:`Component.create`.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kerakit.errors import (
    AmbiguousComponentError,
    ComponentNotFoundError,
    DuplicateComponentError,
    InvalidParameterError,
    InvalidRegistrationError,
    PluginError,
)
from kerakit.hookspecs import KINDS, singular

SHORT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLUGIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_LIST_HINT = "Run `kerakit components {kind}` to list them all."


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


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is a known component kind.

    Accepts the singular too (``"loss"`` for ``"losses"``).

    Raises:
        ValueError: for an unknown kind, listing the valid ones.
    """
    if kind in KINDS:
        return kind
    for known in KINDS:
        if kind == singular(known):
            return known
    raise ValueError(
        f"Invalid component kind. Expected one of: {', '.join(KINDS)}. Received: kind={kind!r}"
    )


def check_name(name: object) -> tuple[str | None, str]:
    """Split ``name`` into ``(plugin or None, short name)``.

    Raises:
        ValueError: if the name is not ``name`` or ``plugin.name``.
    """
    if isinstance(name, str):
        plugin, _, short = name.rpartition(".")
        if SHORT_NAME.match(short) and (not plugin or PLUGIN_NAME.match(plugin)):
            return plugin or None, short
    raise ValueError(
        "Invalid component name. Expected `name` or `plugin.name`, the name in lowercase "
        f"letters, digits and underscores (e.g. 'conv_block', 'vision.mixup'). Received: {name!r}"
    )


def summary_of(obj: Any) -> str:
    """The first line of ``obj``'s docstring, or ``""``."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


class Registry:
    """Components by kind, keyed by qualified name.

    Example:
        >>> reg = Registry()
        >>> reg.add(Component("losses", "mse", "kerakit", lambda: "mse"))
        >>> reg.get("losses", "mse").qualified_name
        'kerakit.mse'
    """

    def __init__(self) -> None:
        # kind -> qualified name -> component
        self._tables: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        # kind -> short name -> providers, in load order
        self._short: dict[str, dict[str, list[Component]]] = {kind: {} for kind in KINDS}
        # plugin name -> kerakit.registry.discovery.PluginInfo, filled by the loader
        self.plugins: dict[str, Any] = {}
        # plugin name -> its source, for plugins known from the index and not yet imported
        self.sources: dict[str, Any] = {}
        # (kind, short or qualified name) -> why its plugin was quarantined after loading
        self._withdrawn: dict[tuple[str, str], str] = {}

    def add(self, component: Component) -> None:
        """Add a component.

        Raises:
            DuplicateComponentError: if its qualified name is already taken.
        """
        kind = check_kind(component.kind)
        table = self._tables[kind]
        if component.qualified_name in table:
            raise DuplicateComponentError(
                f"Plugin `{component.plugin}` registered the {singular(kind)} `{component.name}` "
                "twice. Each name may be registered once per plugin; rename one of them."
            )
        table[component.qualified_name] = component
        self._short[kind].setdefault(component.name, []).append(component)

    def remove_plugin(self, plugin: str) -> None:
        """Forget every component of ``plugin``."""
        for kind in KINDS:
            table = self._tables[kind]
            for qualified in [q for q, c in table.items() if c.plugin == plugin]:
                component = table.pop(qualified)
                providers = self._short[kind][component.name]
                providers.remove(component)
                if not providers:
                    del self._short[kind][component.name]

    def withdraw_plugin(self, plugin: str, reason: str) -> None:
        """Forget ``plugin``'s components, and answer later lookups of them with ``reason``."""
        for kind in KINDS:
            for component in self._tables[kind].values():
                if component.plugin == plugin:
                    self._withdrawn[(kind, component.qualified_name)] = reason
                    self._withdrawn.setdefault((kind, component.name), reason)
        self.remove_plugin(plugin)
        self.sources.pop(plugin, None)

    def import_plugin(self, plugin: str) -> None:
        """Import ``plugin`` now if it is known only from the index.

        Raises:
            PluginError: if it fails (it is then quarantined).
        """
        source = self.sources.get(plugin)
        if source is not None:
            source.activate()

    def get(self, kind: str, name: str) -> Component:
        """Look up a component by short or qualified name.

        Raises:
            ComponentNotFoundError: with the closest names and how to list all.
            AmbiguousComponentError: naming each provider's qualified name.
            PluginError: if its plugin was quarantined when it was finally imported.
        """
        kind = check_kind(kind)
        plugin, short = check_name(name)
        if plugin is not None:
            found = self._tables[kind].get(f"{plugin}.{short}")
            if found is not None:
                return found
        else:
            providers = self._short[kind].get(short, [])
            if len(providers) == 1:
                return providers[0]
            if len(providers) > 1:
                names = ", ".join(f"`{c.qualified_name}`" for c in providers)
                plugins = ", ".join(
                    f"{c.plugin} ({c.distribution or 'built in'} {c.version or ''})".strip()
                    for c in providers
                )
                raise AmbiguousComponentError(
                    f"The {singular(kind)} name `{short}` is ambiguous: it is provided by "
                    f"{len(providers)} plugins: {plugins}. Use a qualified name instead: {names}."
                )
        withdrawn = self._withdrawn.get((kind, name))
        if withdrawn is not None:
            raise PluginError(f"The {singular(kind)} `{name}` is unavailable: {withdrawn}")
        raise ComponentNotFoundError(self._not_found_message(kind, name))

    def _not_found_message(self, kind: str, name: str) -> str:
        candidates = list(self._tables[kind]) + list(self._short[kind])
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        message = f"Unknown {singular(kind)} `{name}`."
        if close:
            message += " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
        elsewhere = [k for k in KINDS if k != kind and self._has(k, name)]
        if elsewhere:
            message += (
                f" `{name}` is registered under {', '.join(elsewhere)}, not {kind}."
            )
        return f"{message} {_LIST_HINT.format(kind=kind)}"

    def _has(self, kind: str, name: str) -> bool:
        return name in self._tables[kind] or name in self._short[kind]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return self._has(check_kind(kind), name)

    def list(
        self,
        kind: str | None = None,
        pattern: str | None = None,
        plugin: str | None = None,
    ) -> list[Component]:
        """Components sorted by kind then qualified name.

        Args:
            kind: Only this kind.
            pattern: An fnmatch wildcard matched against the qualified and the
                short name, e.g. ``"*conv*"``.
            plugin: Only this plugin's components.
        """
        kinds: Iterable[str] = KINDS if kind is None else (check_kind(kind),)
        out = []
        for k in kinds:
            for qualified in sorted(self._tables[k]):
                component = self._tables[k][qualified]
                if plugin is not None and component.plugin != plugin:
                    continue
                if pattern is not None and not (
                    fnmatch.fnmatchcase(qualified, pattern)
                    or fnmatch.fnmatchcase(component.name, pattern)
                ):
                    continue
                out.append(component)
        return out

    def counts(self, plugin: str) -> dict[str, int]:
        """Number of components per kind that ``plugin`` provides (kinds with none omitted)."""
        counts: dict[str, int] = {}
        for kind in KINDS:
            n = sum(1 for c in self._tables[kind].values() if c.plugin == plugin)
            if n:
                counts[kind] = n
        return counts


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


def instantiate(registry: Registry, kind: str, identifier: Any) -> Any:
    """Turn any reference into a component object, as forgiving as ``keras.losses.get``.

    Args:
        registry: Where names are looked up.
        kind: The component kind.
        identifier: ``None``; a short or qualified name; a dict
            ``{"name": ..., "params": {...}}`` or a Keras config dict
            ``{"class_name": ..., "config": {...}}``; a class; or an instance.

    Returns:
        The object, or ``None`` for ``None``.

    Raises:
        ComponentNotFoundError, AmbiguousComponentError: for names.
        InvalidParameterError: for unknown parameters.
        ValueError: for anything else.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        return registry.get(kind, identifier).create()
    if isinstance(identifier, Mapping):
        if "name" in identifier:
            params = dict(identifier.get("params") or {})
            return registry.get(kind, identifier["name"]).create(**params)
        if "class_name" in identifier:
            return _from_keras_config(registry, kind, identifier)
        raise ValueError(
            f"Invalid {singular(kind)} config. Expected a dict with `name` (and optional `params`) "
            f"or a Keras config with `class_name` and `config`. Received: {dict(identifier)!r}"
        )
    if inspect.isclass(identifier):
        return identifier()
    return identifier


def _from_keras_config(registry: Registry, kind: str, config: Mapping[str, Any]) -> Any:
    class_name = config["class_name"]
    inner = dict(config.get("config") or {})
    for component in registry.list(kind):
        if class_name in (component.name, component.class_name):
            # Only the matching component's plugin is imported.
            obj = component.obj
            from_config = getattr(obj, "from_config", None)
            return from_config(inner) if from_config else component.create(**inner)
    raise ComponentNotFoundError(registry._not_found_message(kind, str(class_name)))
