"""Preset writes, and filling a template's slots."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.models import User
from common.errors import DarkroomError, InvalidRequest
from presets.models import TOKEN, Preset, template_slots
from presets.selectors import preset_for
from presets.sharing import apply_sharing, parse_shared_with
from providers.catalog import get_catalog


class PresetForbidden(DarkroomError):
    status = 403
    code = "permission_denied"


@dataclass(frozen=True)
class Filled:
    """A preset applied: what a generation request starts from."""

    preset: Preset
    model: str
    prompt: str
    params: dict[str, Any]


def preset_create(
    *,
    owner: User,
    name: Any,
    model: Any,
    template: Any,
    params: Any = None,
    shared_with: Any = None,
) -> Preset:
    name, template = _text(name, "name", 120), _text(template, "template", 4000)
    if not isinstance(model, str) or get_catalog().get(model) is None:
        raise InvalidRequest(f"The model '{model}' does not exist.", param="model")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidRequest("'params' must be an object.", param="params")
    everyone, groups = parse_shared_with(shared_with, owner=owner)
    with transaction.atomic():
        preset = Preset.objects.create(
            owner=owner, name=name, model=model, params=params, template=template
        )
        apply_sharing(preset, everyone=everyone, groups=groups)
    return preset


def _text(value: Any, param: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"'{param}' is required.", param=param)
    if len(value) > limit:
        raise InvalidRequest(f"'{param}' is longer than {limit} characters.", param=param)
    return value.strip()


def preset_delete(*, user: User, preset_id: Any) -> None:
    """Only its owner deletes a preset; others who may use it get a 403."""
    preset = preset_for(user, preset_id)
    if preset.owner_id != user.pk:
        raise PresetForbidden("Only the preset's owner may delete it.", param="preset")
    preset.delete()


def preset_fill(*, user: User, preset_id: Any, values: Any) -> Filled:
    """The preset's model, parameters and prompt with every slot filled from `values`.

    An unknown preset, or a slot without a value, is a 400 naming it.
    """
    preset = preset_for(user, preset_id)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InvalidRequest("'preset_values' must be an object.", param="preset_values")
    return Filled(preset, preset.model, fill_template(preset.template, values), dict(preset.params))


def fill_template(template: str, values: dict[str, Any]) -> str:
    missing = [slot for slot in template_slots(template) if not str(values.get(slot) or "")]
    if missing:
        raise InvalidRequest(
            f"The preset's slot '{missing[0]}' needs a value in 'preset_values'.",
            param="preset_values",
            code="missing_slot",
        )

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return str(values[match.group(1)])
        return match.group(0)[0]  # "{{" -> "{", "}}" -> "}"

    return TOKEN.sub(one, template)
