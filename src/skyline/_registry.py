"""Name -> plug-in registries shared by planners, models and later policies, codecs, transports."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from skyline.errors import RegistryError, UnknownNameError

T = TypeVar("T")


def load_object(path: str) -> object:
    """Import `"package.module:attr"` (attr may be dotted); errors say which part failed."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise UnknownNameError(
            f"{path!r} is not a registered name nor a 'module:attr' path",
            fix="use a registered name or write it as 'package.module:attribute'",
        )
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownNameError(
            f"cannot import module {module_name!r} from {path!r}: {exc}",
            fix="check the module is importable (installed, or on PYTHONPATH)",
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise UnknownNameError(
                f"module {module_name!r} has no attribute {attr!r}",
                fix=f"check the spelling of {attr!r} in {path!r}",
            ) from exc
    return obj


def check_plugin(cls: Any, base: type, kind: str, where: str) -> None:
    """Explain what is wrong with a would-be plug-in: not a subclass of `base` (importable as
    `where`), abstract methods left, or no `name` to register it under."""
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        needed = " and ".join(f"{m}()" for m in sorted(getattr(base, "__abstractmethods__", ())))
        raise RegistryError(
            f"{cls!r} is not a {base.__name__} subclass",
            fix=f"subclass {where}" + (f" and implement {needed}" if needed else ""),
        )
    if inspect.isabstract(cls):
        missing = ", ".join(f"{m}()" for m in sorted(getattr(cls, "__abstractmethods__", ())))
        raise RegistryError(
            f"{kind} {cls.__name__} does not implement {missing}", fix="implement it"
        )
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise RegistryError(
            f"{kind} {cls.__name__} has no `name`", fix="set a class attribute name = '...'"
        )


class Registry(Generic[T]):
    """Holds factories by name; refuses silent overwrites; resolves `module:attr` paths too."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, overwrite: bool = False) -> T:
        if not name or name != name.strip():
            raise RegistryError(f"{self.kind} name {name!r} is empty or has surrounding spaces")
        if name in self._items and not overwrite and self._items[name] is not item:
            raise RegistryError(
                f"{self.kind} {name!r} is already registered",
                fix="pick another name, or pass overwrite=True to replace it on purpose",
            )
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """`@registry.decorator("name")` registers the decorated factory."""
        return lambda item: self.register(name, item)

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        if ":" in name:
            return load_object(name)  # type: ignore[return-value]
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}",
            fix=f"use one of: {', '.join(sorted(self._items))} (or a 'module:attr' path)",
        )

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


P = TypeVar("P")


class PluginRegistry(Registry[type[P]]):
    """A registry of plug-in classes derived from `base` (importable as `where`): every class is
    checked (`check_plugin`) when it is registered and again when a name or 'module:Class' path
    is created, so a bad plug-in is explained instead of failing later."""

    def __init__(self, kind: str, base: type, where: str) -> None:
        super().__init__(kind)
        self.base, self.where = base, where

    def check(self, cls: Any) -> None:
        check_plugin(cls, self.base, self.kind, self.where)

    def add(self, cls: type[P]) -> type[P]:
        """Class decorator: validate and register `cls` under `cls.name`."""
        self.check(cls)
        return self.register(cls.name, cls)  # type: ignore[attr-defined]

    def create(self, name: str, **kwargs: Any) -> P:
        """An instance of the plug-in registered as `name` (or at 'module:Class')."""
        cls = self.get(name)
        self.check(cls)
        return cls(**kwargs)
