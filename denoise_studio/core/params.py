"""Typed method parameters with declared ranges.

A method's parameters are a frozen dataclass derived from :class:`Params` whose fields are made
with :func:`param`. The window builds its parameter panel from :meth:`Params.specs`, the command
line parses ``-p key=value`` with :meth:`Params.from_strings`, and an export's sidecar records
:meth:`Params.to_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from denoise_studio.core.errors import UserError

P = TypeVar("P", bound="Params")


class ParamError(UserError, ValueError):
    """A parameter value is unknown, of the wrong type or out of its declared range."""


@dataclass(frozen=True)
class ParamSpec:
    """What the panel, the command line and the docs need to know about one parameter."""

    name: str
    type: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    title: str = ""
    description: str = ""
    choices: tuple[str, ...] | None = None
    log_scale: bool = False
    advanced: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible description (used by ``denoise-studio methods --json``)."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "title": self.title,
            "description": self.description,
        }
        for key in ("minimum", "maximum", "step"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.log_scale:
            out["log_scale"] = True
        return out


def param(
    default: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    step: float | None = None,
    title: str = "",
    description: str = "",
    choices: tuple[str, ...] | list[str] | None = None,
    log_scale: bool = False,
    advanced: bool = False,
) -> Any:
    """Declare a parameter field: its default, range and the text shown to the user.

    ``choices`` makes a string field an enumeration; ``log_scale`` tells the panel to use a
    logarithmic slider; ``advanced`` fields are folded away in the panel.
    """
    meta = {
        "minimum": minimum,
        "maximum": maximum,
        "step": step,
        "title": title,
        "description": description,
        "choices": tuple(choices) if choices is not None else None,
        "log_scale": log_scale,
        "advanced": advanced,
    }
    return field(default=default, metadata={"param": meta})


_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}


def _field_type(f: dataclasses.Field[Any]) -> type:
    annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    annotation = annotation.replace(" ", "")
    base = annotation.split("|")[0]
    if base not in _TYPES:
        raise TypeError(f"parameter {f.name!r} must be int, float, bool or str, not {annotation}")
    return _TYPES[base]


def _optional(f: dataclasses.Field[Any]) -> bool:
    annotation = f.type if isinstance(f.type, str) else str(f.type)
    return "None" in annotation


@dataclass(frozen=True)
class Params:
    """Base of every method's parameter dataclass; checks each value against its spec."""

    _spec_cache: ClassVar[dict[type, tuple[ParamSpec, ...]]] = {}

    def __post_init__(self) -> None:
        for spec in self.specs():
            value = getattr(self, spec.name)
            object.__setattr__(self, spec.name, _check(spec, value, self._is_optional(spec.name)))

    @classmethod
    def _is_optional(cls, name: str) -> bool:
        return any(f.name == name and _optional(f) for f in dataclasses.fields(cls))

    @classmethod
    def specs(cls) -> tuple[ParamSpec, ...]:
        """The declared parameters, in field order."""
        cached = Params._spec_cache.get(cls)
        if cached is not None:
            return cached
        specs = []
        for f in dataclasses.fields(cls):
            meta = f.metadata.get("param")
            if meta is None:
                continue
            title = meta["title"] or f.name.replace("_", " ").capitalize()
            specs.append(ParamSpec(name=f.name, type=_field_type(f), default=f.default, **{**meta, "title": title}))
        result = tuple(specs)
        Params._spec_cache[cls] = result
        return result

    @classmethod
    def spec(cls, name: str) -> ParamSpec:
        """The spec of one parameter; :class:`ParamError` if there is none of that name."""
        for spec in cls.specs():
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in cls.specs()) or "none"
        raise ParamError(f"unknown parameter {name!r} (known: {known})")

    def to_dict(self) -> dict[str, Any]:
        """Plain values by name, JSON-compatible."""
        return {spec.name: getattr(self, spec.name) for spec in self.specs()}

    @classmethod
    def from_dict(cls: type[P], values: dict[str, Any]) -> P:
        """Build from a mapping of names to typed values; unknown names are an error."""
        for name in values:
            cls.spec(name)
        return cls(**values)

    @classmethod
    def from_strings(cls: type[P], pairs: dict[str, str], base: P | None = None) -> P:
        """Build from ``key=value`` strings as typed on the command line."""
        values = base.to_dict() if base is not None else {}
        for name, text in pairs.items():
            spec = cls.spec(name)
            values[name] = parse_value(spec, text, cls._is_optional(name))
        return cls.from_dict(values)

    def replace(self: P, **changes: Any) -> P:
        """A copy with some values changed (checked like any other)."""
        return dataclasses.replace(self, **changes)


def parse_value(spec: ParamSpec, text: str, optional: bool = False) -> Any:
    """Parse a command-line string into the parameter's type."""
    text = text.strip()
    if optional and text.lower() in ("", "none", "auto"):
        return None
    if spec.type is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ParamError(f"{spec.name}: expected true or false, got {text!r}")
    try:
        if spec.type is int:
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if spec.type is float:
            return float(text)
    except ValueError:
        raise ParamError(f"{spec.name}: expected {spec.type.__name__}, got {text!r}") from None
    return text


def _check(spec: ParamSpec, value: Any, optional: bool) -> Any:
    if value is None:
        if optional:
            return None
        raise ParamError(f"{spec.name}: a value is required")
    if spec.type is bool:
        if not isinstance(value, (bool,)) and value not in (0, 1):
            raise ParamError(f"{spec.name}: expected true or false, got {value!r}")
        return bool(value)
    if spec.type is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ParamError(f"{spec.name}: expected an integer, got {value!r}")
        value = int(value)
    elif spec.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"{spec.name}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ParamError(f"{spec.name}: expected a finite number, got {value!r}")
    elif spec.type is str:
        if not isinstance(value, str):
            raise ParamError(f"{spec.name}: expected text, got {value!r}")
        if spec.choices is not None and value not in spec.choices:
            raise ParamError(f"{spec.name}: {value!r} is not one of {', '.join(spec.choices)}")
        return value
    if spec.minimum is not None and value < spec.minimum:
        raise ParamError(f"{spec.name}: {value} is below the minimum {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise ParamError(f"{spec.name}: {value} is above the maximum {spec.maximum}")
    return value
