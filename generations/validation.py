"""Check a request against its model's own rules, from the catalog alone.

Runs before any quota is touched or any upstream called. Every refusal is an
`InvalidRequest` naming the parameter. Values may arrive as the strings a form or
a multipart body carries ("2", "0.8", "true"); they come out typed.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from common.errors import InvalidRequest, ModelNotFound
from common.sizes import match_size
from providers.catalog import ModelSpec, ParamSpec, get_catalog

# An image source: a URL or data: URL string, raw bytes, or an uploaded file.
ImageSource = Any

# WxH, with x, X, * or the multiplication sign between
# Digits ASCII only (int() takes other scripts' digits too), and few enough that int() cannot
# refuse them (Python stops at 4,300 digits) or spend CPU on them.
_INT = re.compile(r"^[+-]?[0-9]{1,30}$", re.ASCII)
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
# What no database column (nor UTF-8) can hold: PostgreSQL refuses NUL in text, and a
# lone surrogate (JSON's "\ud800") cannot be encoded at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class CleanRequest:
    spec: ModelSpec
    prompt: str
    params: dict[str, Any]  # every scalar parameter the model takes, defaults filled in
    images: dict[str, list[ImageSource]]

    @property
    def n(self) -> int:
        return int(self.params.get("n", 1))


def get_model(name: Any) -> ModelSpec:
    """The catalog's model by name; a model already looked up is taken as it is."""
    if isinstance(name, ModelSpec):
        return name
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("Choose a model.", param="model", code="missing_required_parameter")
    spec = get_catalog().get(name.strip())
    if spec is None:
        raise ModelNotFound(f"The model '{name}' does not exist.", param="model")
    return spec


def validate_request(
    *,
    model: Any,
    prompt: Any,
    params: dict[str, Any],
    images: dict[str, list[ImageSource]] | None = None,
) -> CleanRequest:
    spec = get_model(model)
    images = {k: v for k, v in (images or {}).items() if v}
    given = {k: v for k, v in params.items() if v is not None}
    for name in list(given) + list(images):
        if spec.param(name) is None:
            raise InvalidRequest(
                f"The model {spec.name} does not take the parameter '{name}'.",
                param=name,
                code="unknown_parameter",
            )
    clean_prompt = _prompt(spec, prompt)
    clean: dict[str, Any] = {}
    for p in spec.params.values():
        if p.name == "prompt" or p.is_image:
            continue
        if p.name in given:
            clean[p.name] = coerce(p, given[p.name])
        elif p.required:
            raise _missing(p)
        elif p.default is not None:
            clean[p.name] = p.default
    if clean.get("seed") == -1:
        # Pick the seed ourselves so every image records the seed that reproduces it.
        clean["seed"] = random.randint(0, 2**31 - 1)
    _check_images(spec, images)
    return CleanRequest(spec, clean_prompt, clean, images)


def _prompt(spec: ModelSpec, prompt: Any) -> str:
    p = spec.params["prompt"]
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidRequest("The prompt must be text.", param="prompt", code="invalid_type")
    text = check_text("prompt", prompt).strip() if prompt is not None else ""
    if not text and p.required:
        raise _missing(p)
    if p.max_length and len(text) > p.max_length:
        raise InvalidRequest(
            f"The prompt is {len(text)} characters long; the limit is {p.max_length}.",
            param="prompt",
            code="string_above_max_length",
        )
    return text


def check_text(param: str, text: str) -> str:
    """The text unchanged, or a refusal naming the parameter if it cannot be stored."""
    bad = _UNSTORABLE.search(text)
    if bad is None:
        return text
    char = bad.group()
    what = "a NUL character" if char == "\x00" else f"an unpaired surrogate (\\u{ord(char):04x})"
    raise InvalidRequest(
        f"'{param}' contains {what}, which cannot be stored as text.",
        param=param,
        code="invalid_text",
    )


def _missing(p: ParamSpec) -> InvalidRequest:
    return InvalidRequest(
        f"The parameter '{p.name}' is required for this model.",
        param=p.name,
        code="missing_required_parameter",
    )


def _check_images(spec: ModelSpec, images: dict[str, list[ImageSource]]) -> None:
    total = 0
    for p in spec.image_params:
        items = images.get(p.name, [])
        total += len(items)
        if not items:
            if p.required:
                raise _missing(p)
            continue
        lo, hi = (1, 1) if p.type == "image" else (p.min_items, p.max_items)
        if not lo <= len(items) <= hi:
            want = "one image" if hi == 1 else f"between {lo} and {hi} images"
            raise InvalidRequest(
                f"'{p.name}' takes {want}; {len(items)} given.",
                param=p.name,
                code="invalid_image_count",
            )
    cap = settings.DARKROOM_MAX_REFERENCE_IMAGES
    if total > cap:
        raise InvalidRequest(
            f"{total} reference images given; one request carries at most {cap}.",
            param=spec.image_params[0].name if spec.image_params else "image",
            code="invalid_image_count",
        )


def coerce(p: ParamSpec, value: Any) -> Any:
    """One value, typed and range-checked against its spec."""
    converter = _CONVERTERS[p.type]
    return converter(p, value)


def _bad(p: ParamSpec, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=p.name, code=code)


def _range_text(p: ParamSpec) -> str:
    return f"between {_fmt(p.min)} and {_fmt(p.max)}"


def _fmt(v: float | None) -> str:
    return "?" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def _in_range(p: ParamSpec, v: float) -> None:
    if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
        raise _bad(p, f"'{p.name}' must be {_range_text(p)}; got {_fmt(v)}.", "value_out_of_range")


def _shown(value: Any) -> str:
    """The value as the error message quotes it: never a 5,000-character echo."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(p: ParamSpec, value: Any) -> int:
    if isinstance(value, bool):
        raise _bad(p, f"'{p.name}' must be a whole number.", "invalid_type")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _INT.match(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise _bad(p, f"'{p.name}' must be a whole number; got {_shown(value)}.", "invalid_type")
    _in_range(p, value)
    return value


def _float(p: ParamSpec, value: Any) -> float:
    if isinstance(value, bool):
        raise _bad(p, f"'{p.name}' must be a number.", "invalid_type")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise _bad(
            p, f"'{p.name}' must be a number; got {_shown(value)}.", "invalid_type"
        ) from None
    if not math.isfinite(number):
        raise _bad(p, f"'{p.name}' must be a finite number.", "invalid_type")
    _in_range(p, number)
    return number


def _bool(p: ParamSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise _bad(p, f"'{p.name}' must be true or false; got {value!r}.", "invalid_type")


def _string(p: ParamSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(p, f"'{p.name}' must be text.", "invalid_type")
    check_text(p.name, value)
    if p.max_length and len(value) > p.max_length:
        raise _bad(
            p, f"'{p.name}' is longer than {p.max_length} characters.", "string_above_max_length"
        )
    return value.strip()


def _enum(p: ParamSpec, value: Any) -> str:
    text = str(value).strip()
    if text not in p.choices:
        raise _bad(p, f"'{p.name}' must be one of {', '.join(p.choices)}; got {value!r}.")
    return text


def _size(p: ParamSpec, value: Any) -> str:
    parsed = match_size(value)
    if parsed is None:
        raise _bad(p, f"'{p.name}' must look like 1024x1024; got {value!r}.")
    width, height = parsed
    for side in (width, height):
        if (p.min is not None and side < p.min) or (p.max is not None and side > p.max):
            lo, hi = _fmt(p.min), _fmt(p.max)
            raise _bad(
                p,
                f"'{p.name}' must be between {lo}x{lo} and {hi}x{hi}; got {value!r}.",
                "value_out_of_range",
            )
    return f"{width}x{height}"


_CONVERTERS = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "string": _string,
    "enum": _enum,
    "size": _size,
}
