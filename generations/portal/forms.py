"""Portal forms. The generate form is built from one model's catalog entry, so it
shows exactly the parameters that model takes, with their defaults and ranges.

These fields give quick feedback in the person's language; generation_create
still validates everything again (the catalog is the one source of truth).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from common.images import MIME
from generations.models import Generation
from providers.catalog import ModelSpec, ParamSpec, get_catalog
from providers.labels import model_label

# Catalog labels are English data; the portal shows these translated ones.
PARAM_LABELS = {
    "prompt": _("Prompt"),
    "negative_prompt": _("Negative prompt"),
    "n": _("Number of images"),
    "image": _("Reference image"),
    "images": _("Reference images"),
    "mask": _("Mask"),
    "size": _("Size"),
    "aspect_ratio": _("Aspect ratio"),
    "strength": _("Reference strength"),
    "steps": _("Steps"),
    "seed": _("Seed"),
    "guidance_scale": _("Guidance scale"),
    "safety_tolerance": _("Safety tolerance"),
    "prompt_upsampling": _("Prompt upsampling"),
    "raw": _("Raw mode"),
}
PARAM_HINTS = {
    "negative_prompt": _("What the image should not show."),
    "strength": _("How closely the result follows the reference image."),
    "guidance_scale": _("Higher follows the prompt more strictly."),
    "seed": _("Leave empty for a new random seed; reuse one to reproduce an image."),
    "safety_tolerance": _("0 is the strictest."),
    "prompt_upsampling": _("Let the model enrich a short prompt."),
    "raw": _("Less processed, more natural-looking images."),
}
# Common sizes; only those inside the model's min..max are offered.
SIZE_PRESETS = [
    "1024x1024",
    "1536x1536",
    "768x768",
    "512x512",
    "1024x768",
    "768x1024",
    "1280x720",
    "720x1280",
    "1536x1024",
    "1024x1536",
    "1344x768",
    "768x1344",
]
ALL_MODELS = ""
# A posted size or choice the model does not offer (a stale page, a hand-made request).
NOT_ALLOWED = {"invalid_choice": _("This model does not allow %(value)s.")}
# Shown up front; the rest sit under "More settings".
PRIMARY = {"n", "size", "aspect_ratio", "negative_prompt"}


def param_label(name: str) -> str:
    return str(PARAM_LABELS.get(name, name.replace("_", " ").capitalize()))


def model_choices() -> list[tuple[str, str]]:
    return [(m.name, model_label(m.name)) for m in get_catalog().models.values()]


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _number_field(p: ParamSpec) -> forms.Field:
    attrs: dict[str, Any] = {"min": _fmt(p.min), "max": _fmt(p.max)}
    common: dict[str, Any] = {"min_value": p.min, "max_value": p.max, "initial": p.default}
    if p.type == "int":
        if p.name == "seed":
            attrs.update(placeholder=_("Random"), inputmode="numeric")
            return forms.IntegerField(
                required=False,
                min_value=0,
                max_value=int(p.max) if p.max is not None else None,
                widget=forms.NumberInput(attrs=attrs),
            )
        if p.name == "n":
            choices = [(i, str(i)) for i in range(int(p.min or 1), int(p.max or 1) + 1)]
            return forms.TypedChoiceField(
                choices=choices,
                coerce=int,
                initial=p.default,
                error_messages=NOT_ALLOWED,
                widget=forms.RadioSelect(attrs={"class": "segmented"}),
            )
        attrs.update(step="1", **{"data-slider": ""})
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **common)
    span = (p.max or 1) - (p.min or 0)
    attrs.update(step="0.01" if span <= 2 else "0.1", **{"data-slider": ""})
    return forms.FloatField(widget=forms.NumberInput(attrs=attrs), **common)


def _size_field(p: ParamSpec, current: str | None) -> forms.Field:
    def fits(size: str) -> bool:
        w, h = (int(x) for x in size.split("x"))
        return all((p.min or 0) <= side <= (p.max or 10**6) for side in (w, h))

    sizes = [s for s in SIZE_PRESETS if fits(s)]
    if current and current not in sizes:
        sizes.insert(0, current)  # a reused custom size stays selectable
    choices = [(s, s.replace("x", " \u00d7 ")) for s in sizes]
    return forms.ChoiceField(choices=choices, initial=p.default, error_messages=NOT_ALLOWED)


def scalar_field(p: ParamSpec, current: Any = None) -> forms.Field:
    field: forms.Field
    if p.type in {"int", "float"}:
        field = _number_field(p)
    elif p.type == "bool":
        field = forms.BooleanField(
            required=False,
            initial=bool(p.default),
            widget=forms.CheckboxInput(attrs={"role": "switch"}),
        )
    elif p.type == "enum":
        field = forms.ChoiceField(
            choices=[(c, c) for c in p.choices],
            initial=p.default,
            error_messages=NOT_ALLOWED,
            widget=forms.RadioSelect(attrs={"class": "ratio-choices"})
            if p.name == "aspect_ratio"
            else forms.Select(),
        )
    elif p.type == "size":
        field = _size_field(p, current)
    else:
        field = forms.CharField(
            required=p.required, max_length=p.max_length, widget=forms.Textarea(attrs={"rows": 2})
        )
    # An emptied field falls back to the catalog default (or a random seed).
    field.required = p.required and p.default is None
    field.label = param_label(p.name)
    field.help_text = PARAM_HINTS.get(p.name, "")
    return field


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        items = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items if item]


def image_fields(p: ParamSpec) -> dict[str, forms.Field]:
    """An image parameter's inputs: a file drop zone (several files for `images`) and a
    box of URLs, one a line."""
    many = p.type == "images"
    attrs = {"accept": ",".join(MIME.values()), "data-dropzone": p.name}
    files: forms.Field = (
        MultipleFileField(required=False, widget=MultipleFileInput(attrs=attrs))
        if many
        else forms.FileField(required=False, widget=forms.FileInput(attrs=attrs))
    )
    files.label = param_label(p.name)
    urls = forms.CharField(
        required=False,
        label=_("or paste image URLs, one a line") if many else _("or paste an image URL"),
        widget=forms.Textarea(
            attrs={
                "rows": 1,
                "placeholder": "https://…",
                "data-url-preview": p.name,
                "inputmode": "url",
            }
        ),
    )
    return {p.name: files, f"{p.name}_url": urls}


def image_inputs(cleaned_data: dict[str, Any], name: str) -> list[Any]:
    """What an image parameter's inputs (`image_fields`) hold: the files, then the URLs."""
    value = cleaned_data.get(name)
    files = value if isinstance(value, list) else ([value] if value else [])
    urls = [u.strip() for u in cleaned_data.get(f"{name}_url", "").splitlines() if u.strip()]
    return [*files, *urls]


class ModelParamsForm(forms.Form):
    """One field per scalar parameter of one model, with its catalog defaults and ranges.

    Image parameters go through `_add_image_fields`, which the generate form fills in;
    "Compare" sends its shared references itself."""

    primary: Collection[str] = PRIMARY

    def __init__(self, spec: ModelSpec, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        for p in spec.params.values():
            if p.name == "prompt":
                continue
            if p.is_image:
                self._add_image_fields(p)
            else:
                self.fields[p.name] = scalar_field(p, self.initial.get(p.name))

    def _add_image_fields(self, p: ParamSpec) -> None:
        pass

    @property
    def scalar_fields(self) -> list[forms.BoundField]:
        return [
            self[p.name] for p in self.spec.params.values() if p.name != "prompt" and not p.is_image
        ]

    @property
    def primary_fields(self) -> list[forms.BoundField]:
        return [f for f in self.scalar_fields if f.name in self.primary]

    @property
    def advanced_fields(self) -> list[forms.BoundField]:
        return [f for f in self.scalar_fields if f.name not in self.primary]

    @property
    def advanced_open(self) -> bool:
        """Open "more settings" when they hold an error or a reused value."""
        fields = self.advanced_fields
        return any(f.errors for f in fields) or any(f.name in self.initial for f in fields)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for p in self.spec.params.values():
            if p.name == "prompt" or p.is_image:
                continue
            value = self.cleaned_data.get(p.name)
            if value is None or value == "":
                continue  # the catalog default (or a random seed) applies
            params[p.name] = value
        return params


class GenerateForm(ModelParamsForm):
    """model + prompt + one field per scalar parameter + file/URL inputs per image parameter."""

    model = forms.ChoiceField(label=_("Model"))
    prompt = forms.CharField(label=_("Prompt"), widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, spec: ModelSpec, *args: Any, **kwargs: Any) -> None:
        super().__init__(spec, *args, **kwargs)
        cast(forms.ChoiceField, self.fields["model"]).choices = model_choices()
        prompt = spec.params["prompt"]
        if prompt.max_length:
            self.fields["prompt"].validators.append(MaxLengthValidator(prompt.max_length))
        self.fields["prompt"].widget.attrs.update(
            maxlength=prompt.max_length, placeholder=_("Describe the image you want…")
        )

    def _add_image_fields(self, p: ParamSpec) -> None:
        self.fields.update(image_fields(p))

    @property
    def image_params(self) -> list[ParamSpec]:
        return self.spec.image_params

    def image_sources(
        self, references: dict[str, list[bytes]] | None = None
    ) -> dict[str, list[Any]]:
        """Files, URLs and reused reference bytes per image parameter, in that order."""
        return {
            p.name: [*image_inputs(self.cleaned_data, p.name), *(references or {}).get(p.name, [])]
            for p in self.spec.image_params
        }


class GalleryFilterForm(forms.Form):
    STARRED = [("", _("All")), ("first", _("Starred first")), ("only", _("Starred only"))]

    q = forms.CharField(
        required=False,
        label=_("Search prompts"),
        widget=forms.SearchInput(attrs={"placeholder": _("Search prompts…")}),
    )
    model = forms.ChoiceField(required=False, label=_("Model"))
    status = forms.ChoiceField(required=False, label=_("Status"))
    date_from = forms.DateField(
        required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"})
    )
    starred = forms.ChoiceField(required=False, choices=STARRED, label=_("Starred"))
    everyone = forms.BooleanField(required=False, label=_("Everyone's"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model, status = self.fields["model"], self.fields["status"]
        cast(forms.ChoiceField, model).choices = [(ALL_MODELS, _("All models")), *model_choices()]
        cast(forms.ChoiceField, status).choices = [
            ("", _("Any status")),
            *Generation.Status.choices,
        ]
        for name in ("model", "status", "date_from", "date_to", "starred", "everyone"):
            self.fields[name].widget.attrs["data-autosubmit"] = ""
