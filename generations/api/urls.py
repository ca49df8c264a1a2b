from django.urls import path, re_path

from generations.api import docs, organization, presets, views

app_name = "api"

urlpatterns = [
    path("images/generations", views.images, name="images-generations"),
    path("images/edits", views.images, name="images-edits"),
    path("images/variations", views.images, name="images-variations"),
    path("images/jobs/<uuid:job_id>", views.job, name="job"),
    path("presets", presets.presets, name="presets"),
    path("presets/<int:preset_id>", presets.preset, name="preset"),
    path("models", views.models, name="models"),
    path("quota", views.quota, name="quota"),
    # [\s\S], not `.`: an id or path with a newline in it is a 404 envelope too.
    re_path(r"^models/(?P<model_id>[\s\S]+)$", views.model, name="model"),
    path("files/images/<str:token>.<str:ext>", views.image_file, name="image-file"),
    path("organization/costs", organization.costs, name="organization-costs"),
    path("organization/usage/images", organization.usage_images, name="organization-usage-images"),
    path("openapi.json", docs.openapi, name="openapi"),
    path("docs", docs.docs_page, name="docs"),
    re_path(r"^(?P<rest>[\s\S]*)$", views.not_found),
]
