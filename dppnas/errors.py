"""User-facing errors: one line that says what is wrong and how to fix it.

The CLI prints a :class:`DppnasError` without a traceback and exits with code 2.
"""

from __future__ import annotations

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
    message = first.get("msg", str(err))
    message = message.removeprefix("Value error, ")
    value = first.get("input")
    if kind not in ("value_error", "assertion_error") and _is_scalar(value):
        message += f" (got {value!r})"
    return f"{where}: {message}"


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


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


def validate_section(model: type[BaseModel], data: object, prefix: str) -> BaseModel:
    """Validate ``data`` against ``model``; raise :class:`ConfigError` naming ``prefix.key``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: expected a mapping of options, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, prefix, model)) from None
