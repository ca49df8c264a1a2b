from django.urls import path

from generations.portal import compare, data_views, live_views, preset_picker, views, workspace
from generations.provenance import views as provenance_views

urlpatterns = [
    path("", views.generate, name="generate"),
    # The account's "Your data" page lives with the images it counts and erases.
    path("accounts/data/", data_views.my_data, name="my_data"),
    path("accounts/data/erase/", data_views.my_data_erase, name="my_data_erase"),
    path("generate/fields/", views.generate_fields, name="generate_fields"),
    path("presets/save/", workspace.preset_save, name="preset_save"),
    path("presets/options/", preset_picker.preset_options, name="preset_options"),
    path("compare/", compare.compare, name="compare"),
    path("compare/<uuid:pk>/", compare.compare_detail, name="compare_detail"),
    path("jobs/<uuid:pk>/", views.generation_card, name="generation_card"),
    path("history/", views.gallery, name="gallery"),
    path("live/", live_views.live_stream, name="live_stream"),
    path("history/tiles/", views.generation_tiles, name="generation_tiles"),
    path("images/<uuid:pk>/", views.image_detail, name="image_detail"),
    path("images/<uuid:pk>/original/", views.image_file, name="image_file"),
    path(
        "images/<uuid:pk>/credentials.json",
        provenance_views.image_credentials,
        name="image_credentials",
    ),
    path("images/<uuid:pk>/thumbnail/", views.image_thumbnail, name="image_thumbnail"),
    path("images/<uuid:pk>/star/", views.image_star, name="image_star"),
    path("images/<uuid:pk>/delete/", views.image_delete, name="image_delete"),
    path("images/selection/", views.images_bulk, name="images_bulk"),
    path("references/<int:pk>/", views.reference_file, name="reference_file"),
]
