from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from providers import catalog as catalog_module
from providers.catalog import CATALOG_PATH, CatalogError, get_catalog, parse_catalog

SEED_QUOTAS = {
    "black-forest-labs/flux.1-dev": 10,
    "black-forest-labs/flux-kontext-pro": 5,
    "black-forest-labs/flux-kontext-pro/multi": 5,
    "black-forest-labs/flux-kontext-pro/text-to-image": 5,
    "stepfun-ai/step1x-edit": 5,
    "black-forest-labs/flux-kontext-max": 0,
    "black-forest-labs/flux-kontext-max/multi": 0,
    "black-forest-labs/flux-kontext-max/text-to-image": 0,
}


def _data() -> dict:
    return tomllib.loads(CATALOG_PATH.read_text())


def test_it_lists_the_seed_models_with_their_free_quotas() -> None:
    catalog = get_catalog()
    assert {name: catalog.models[name].free_quota for name in SEED_QUOTAS} == SEED_QUOTAS


def test_it_lists_the_other_flux_models() -> None:
    names = set(get_catalog().names())
    for short in (
        "flux-schnell",
        "flux-dev",
        "flux-pro",
        "flux-1.1-pro",
        "flux-1.1-pro-ultra",
        "flux-fill-dev",
    ):
        assert f"black-forest-labs/{short}" in names


def test_the_models_own_page_wins_over_the_shared_table() -> None:
    max_t2i = get_catalog().models["black-forest-labs/flux-kontext-max/text-to-image"]
    assert max_t2i.params["steps"].default == 20
    assert (max_t2i.params["steps"].min, max_t2i.params["steps"].max) == (1, 50)
    assert "negative_prompt" in max_t2i.params
    assert get_catalog().models["black-forest-labs/flux.1-dev"].params["steps"].default == 28


def test_image_models_require_their_images() -> None:
    models = get_catalog().models
    assert models["black-forest-labs/flux-kontext-pro"].params["image"].required
    assert models["black-forest-labs/flux-kontext-max/multi"].params["images"].required
    assert not models["black-forest-labs/flux.1-dev"].params["image"].required


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["models"][0].update(free_quota=-1), "free_quota"),
        (lambda d: d["models"][0]["params"].append("wings"), "'wings' is not defined"),
        (lambda d: d["params"]["n"].update(min=5), "min 5 is above max 4"),
        (lambda d: d["params"]["aspect_ratio"].update(default="5:4"), "not among its choices"),
        (lambda d: d["models"][0]["channels"][0].update(format="carrier-pigeon"), "format"),
        (lambda d: d["models"][0].update(channels=[]), "at least one channel"),
        (lambda d: d["models"].append(dict(d["models"][0])), "listed twice"),
        (lambda d: d["params"]["seed"].update(type="integer"), "type must be"),
    ],
)
def test_it_rejects_a_malformed_catalog(mutate, message: str) -> None:
    data = _data()
    mutate(data)
    with pytest.raises(CatalogError, match=message):
        parse_catalog(data)


def test_the_system_check_refuses_to_start_on_a_broken_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "catalog.toml"
    broken.write_text(CATALOG_PATH.read_text().replace("free_quota = 10", "free_quota = 'ten'"))
    monkeypatch.setattr(catalog_module, "CATALOG_PATH", broken)
    monkeypatch.setattr(catalog_module.load_catalog, "__defaults__", (broken,))
    with pytest.raises(SystemCheckError, match=r"darkroom\.E001"):
        call_command("check")


def test_the_formats_a_channel_may_name_are_the_registrys(monkeypatch: pytest.MonkeyPatch) -> None:
    from providers import registry

    data = _data()
    data["models"][0]["channels"][0]["format"] = "carrier-pigeon"
    monkeypatch.setitem(registry.PROVIDERS, "carrier-pigeon", registry.PROVIDERS["bfl"])
    assert parse_catalog(data).get(data["models"][0]["name"]) is not None
    monkeypatch.delitem(registry.PROVIDERS, "bfl")
    data["models"][0]["channels"][0]["format"] = "bfl"
    with pytest.raises(CatalogError, match="unknown channel format 'bfl'"):
        parse_catalog(data)
