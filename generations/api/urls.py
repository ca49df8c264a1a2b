from django.urls import path, re_path

from . import docs, views

app_name = "api"

urlpatterns = [
    path("images/generations", views.images, name="images-generations"),
    path("images/edits", views.images, name="images-edits"),
    path("images/variations", views.images, name="images-variations"),
    path("images/jobs/<uuid:job_id>", views.job, name="job"),
    path("models", views.models, name="models"),
    path("models/<path:model_id>", views.model, name="model"),
    path("files/images/<str:token>.<str:ext>", views.image_file, name="image-file"),
    path("openapi.json", docs.openapi, name="openapi"),
    path("docs", docs.docs_page, name="docs"),
    re_path(r"^(?P<rest>.*)$", views.not_found),
]
