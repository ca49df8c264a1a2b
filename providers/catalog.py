"""The model catalog: a data file (catalog.toml) read once and validated.

`get_catalog()` is the one entry point. A malformed file raises `CatalogError`,
which the system check in providers.checks turns into an error that stops
start-up.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from providers.registry import is_supported

CATALOG_PATH = Path(__file__).with_name("catalog.toml")

PARAM_TYPES = {"string", "int", "float", "bool", "enum", "size", "image", "images"}
IMAGE_TYPES = {"image", "images"}
_PARAM_KEYS = {
    "type",
    "default",
    "min",
    "max",
    "choices",
    "max_length",
    "min_items",
    "max_items",
    "label",
}
_CHANNEL_KEYS = {
    "name",
    "price_per_image",
    "price_per_megapixel",
    "format",
    "upstream_model",
    "base_url_env",
    "base_url",
    "key_env",
    "priority",
    "weight",
    "options",
}


class CatalogError(ValueError):
    """The catalog file is malformed; the message says where."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    label: str = ""
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    min_items: int = 1
    max_items: int = 1
    required: bool = False

    @property
    def is_image(self) -> bool:
        return self.type in IMAGE_TYPES


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    format: str
    upstream_model: str
    base_url_env: str
    base_url: str
    key_env: str
    priority: int = 0
    weight: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    # Money per image / per megapixel (DARKROOM_CURRENCY); None: no price in the catalog.
    price_per_image: Decimal | None = None
    price_per_megapixel: Decimal | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    free_quota: int
    params: dict[str, ParamSpec]
    channels: tuple[ChannelSpec, ...]

    def param(self, name: str) -> ParamSpec | None:
        return self.params.get(name)

    @property
    def image_params(self) -> list[ParamSpec]:
        return [p for p in self.params.values() if p.is_image]

    @property
    def max_images(self) -> int:
        n = self.params.get("n")
        return int(n.max) if n and n.max is not None else 1


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelSpec]

    def get(self, name: str) -> ModelSpec | None:
        return self.models.get(name)

    def names(self) -> list[str]:
        return list(self.models)


def _param(name: str, raw: dict[str, Any], required: bool) -> ParamSpec:
    unknown = set(raw) - _PARAM_KEYS
    if unknown:
        raise CatalogError(f"param {name!r}: unknown keys {sorted(unknown)}")
    ptype = raw.get("type")
    if ptype not in PARAM_TYPES:
        raise CatalogError(f"param {name!r}: type must be one of {sorted(PARAM_TYPES)}")
    spec = ParamSpec(
        name=name,
        type=ptype,
        label=raw.get("label", name),
        default=raw.get("default"),
        min=raw.get("min"),
        max=raw.get("max"),
        choices=tuple(raw.get("choices", ())),
        max_length=raw.get("max_length"),
        min_items=raw.get("min_items", 1),
        max_items=raw.get("max_items", 1),
        required=required,
    )
    _check_param(spec)
    return spec


def _check_param(spec: ParamSpec) -> None:
    where = f"param {spec.name!r}"
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        raise CatalogError(f"{where}: min {spec.min} is above max {spec.max}")
    if spec.type == "enum" and not spec.choices:
        raise CatalogError(f"{where}: an enum needs choices")
    if spec.type == "enum" and spec.default is not None and spec.default not in spec.choices:
        raise CatalogError(f"{where}: default {spec.default!r} is not among its choices")
    if spec.type in {"int", "float"} and spec.default is not None:
        lo = spec.min if spec.min is not None else spec.default
        hi = spec.max if spec.max is not None else spec.default
        if not lo <= spec.default <= hi:
            raise CatalogError(f"{where}: default {spec.default} is outside {lo}..{hi}")
    if spec.type == "images" and not 1 <= spec.min_items <= spec.max_items:
        raise CatalogError(f"{where}: needs 1 <= min_items <= max_items")


def _channel(model: str, raw: dict[str, Any]) -> ChannelSpec:
    unknown = set(raw) - _CHANNEL_KEYS
    if unknown:
        raise CatalogError(f"model {model!r}: channel has unknown keys {sorted(unknown)}")
    for key in ("name", "format", "upstream_model", "base_url_env", "base_url", "key_env"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise CatalogError(f"model {model!r}: channel needs a non-empty {key!r}")
    if not is_supported(raw["format"]):  # the registry is the one list of formats
        raise CatalogError(f"model {model!r}: unknown channel format {raw['format']!r}")
    if not raw["base_url"].startswith(("http://", "https://")):
        raise CatalogError(f"model {model!r}: channel base_url must be http(s)")
    return ChannelSpec(
        name=raw["name"],
        format=raw["format"],
        upstream_model=raw["upstream_model"],
        base_url_env=raw["base_url_env"],
        base_url=raw["base_url"].rstrip("/"),
        key_env=raw["key_env"],
        priority=int(raw.get("priority", 0)),
        weight=int(raw.get("weight", 1)),
        options=dict(raw.get("options", {})),
        price_per_image=_money(model, raw, "price_per_image"),
        price_per_megapixel=_money(model, raw, "price_per_megapixel"),
    )


def _money(model: str, raw: dict[str, Any], key: str) -> Decimal | None:
    """A price as written (a string or a number read through its text: never a float)."""
    if key not in raw:
        return None
    try:
        value = Decimal(str(raw[key]))
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise CatalogError(f"model {model!r}: channel {key} must be an amount >= 0")
    return value


def _model(raw: dict[str, Any], vocabulary: dict[str, dict[str, Any]]) -> ModelSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogError("a model needs a non-empty 'name'")
    quota = raw.get("free_quota")
    if not isinstance(quota, int) or quota < 0:
        raise CatalogError(f"model {name!r}: free_quota must be an integer >= 0")
    names, required = raw.get("params", []), set(raw.get("required", []))
    overrides: dict[str, dict[str, Any]] = raw.get("overrides", {})
    for missing in (set(names) | required | set(overrides)) - set(vocabulary):
        raise CatalogError(f"model {name!r}: parameter {missing!r} is not defined in [params]")
    for extra in (required | set(overrides)) - set(names):
        raise CatalogError(f"model {name!r}: {extra!r} is required/overridden but not taken")
    if "prompt" not in names:
        raise CatalogError(f"model {name!r}: every model takes a prompt")
    params = {p: _param(p, {**vocabulary[p], **overrides.get(p, {})}, p in required) for p in names}
    channels = tuple(_channel(name, c) for c in raw.get("channels", []))
    if not channels:
        raise CatalogError(f"model {name!r}: needs at least one channel")
    if len({c.name for c in channels}) != len(channels):
        raise CatalogError(f"model {name!r}: channel names must be unique")
    return ModelSpec(name, raw.get("label", name), quota, params, channels)


def parse_catalog(data: dict[str, Any]) -> Catalog:
    vocabulary = data.get("params", {})
    models: dict[str, ModelSpec] = {}
    for raw in data.get("models", []):
        spec = _model(raw, vocabulary)
        if spec.name in models:
            raise CatalogError(f"model {spec.name!r} is listed twice")
        models[spec.name] = spec
    if not models:
        raise CatalogError("the catalog lists no models")
    return Catalog(models)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"cannot read {path.name}: {exc}") from exc
    return parse_catalog(data)


@cache
def get_catalog() -> Catalog:
    return load_catalog()
