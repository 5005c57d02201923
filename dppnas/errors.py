"""User-facing errors: one line that says what is wrong and how to fix it.

The CLI prints a :class:`DppnasError` without a traceback and exits with code 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, ValidationError


class DppnasError(Exception):
    """An error the user can fix (config, paths, names, data); its message is shown as is."""


class ConfigError(DppnasError):
    """An experiment or option section is malformed."""


def _location(prefix: str, loc: Iterable[object]) -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in loc]
    return ".".join(parts) or "<root>"


def format_validation_error(
    err: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """Turn pydantic's first error into one line ``key.path: message``.

    ``model`` (the model that was validated) lets an unknown key name the allowed keys.
    """
    first = err.errors(include_url=False)[0]
    loc = first.get("loc", ())
    where = _location(prefix, loc)
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
        hint = f" (allowed keys: {', '.join(allowed)})" if allowed else ""
        return f"{where}: unknown key{hint}"
    if kind == "missing":
        return f"{where}: required key is missing"
    # never str(err) or the input's repr: either walks the whole input (an alias bomb in YAML)
    message = short_text(str(first.get("msg") or "invalid value"), 200)
    message = message.removeprefix("Value error, ")
    if kind not in ("value_error", "assertion_error"):
        message += f" (got {short_repr(first.get('input'))})"
    return f"{where}: {message}"


def short_text(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: object, limit: int = 60) -> str:
    """A bounded description of a user's value for an error message.

    Scalars show their (cut) repr; containers only their type and length, so a huge or
    self-referencing input (YAML aliases) is never walked.
    """
    if isinstance(value, str | bytes):
        return repr(value[: limit + 1]) if len(value) <= limit else repr(value[:limit]) + "..."
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, bool | int | float) or value is None:
        return short_text(repr(value), limit)
    size = len(value) if isinstance(value, list | tuple | dict | set) else None
    kind = {list: "list", tuple: "list", dict: "mapping", set: "set"}.get(type(value))
    if kind is not None:
        return f"a {kind} of {size} item{'s' if size != 1 else ''}"
    return f"a {type(value).__name__}"


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """Field names of the (possibly nested) model found by following ``loc``."""
    current: object = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return None


def _model_in(annotation: object) -> object:
    """The BaseModel inside ``annotation`` (``X``, ``list[X]``, ``X | None``, ``dict[str, X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def check_finite(data: object, prefix: str) -> None:
    """Refuse infinite or NaN numbers anywhere in ``data`` (YAML's ``.inf``, ``.nan``, ``1e999``).

    Every number a user gives is a size, a rate or a bound, and none of them is meaningful
    infinite: caught here, they cannot pass validation and fail every trial later. Each
    container is visited once, so YAML aliases (shared objects) cost nothing extra.
    """
    seen: set[int] = set()
    stack: list[tuple[object, str]] = [(data, prefix)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ConfigError(f"{where or '<root>'}: must be a finite number, got {value}")
        elif isinstance(value, dict | list | tuple) and id(value) not in seen:
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in items)


def validate_section(model: type[BaseModel], data: object, prefix: str) -> BaseModel:
    """Validate ``data`` against ``model``; raise :class:`ConfigError` naming ``prefix.key``.

    Non-finite numbers are refused first (:func:`check_finite`), whatever the model allows.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: expected a mapping of options, got {type(data).__name__}")
    check_finite(data, prefix)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, prefix, model)) from None
