from __future__ import annotations

import re

from django.db import models
from django.utils.translation import gettext_lazy as _

from presets.sharing import Shared

# `{product}` in a template; `{{` and `}}` are literal braces, as in str.format.
TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_slots(template: str) -> list[str]:
    """The slot names of a template, each once, in order."""
    return list(dict.fromkeys(m.group(1) for m in TOKEN.finditer(template) if m.group(1)))


class Preset(Shared):
    """A model, its parameters and a prompt template with named slots."""

    name = models.CharField(_("name"), max_length=120)
    model = models.CharField(_("model"), max_length=200)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    template = models.TextField(_("prompt template"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("preset")
        verbose_name_plural = _("presets")
        indexes = [models.Index(fields=["owner", "name"], name="preset_owner_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def slots(self) -> list[str]:
        """The template's slot names, each once, in order."""
        return template_slots(self.template)
