from django.urls import path

from . import views

urlpatterns = [
    path("", views.generate, name="generate"),
    path("generate/fields/", views.generate_fields, name="generate_fields"),
    path("jobs/<uuid:pk>/", views.generation_card, name="generation_card"),
    path("history/", views.gallery, name="gallery"),
    path("images/<uuid:pk>/", views.image_detail, name="image_detail"),
    path("images/<uuid:pk>/original/", views.image_file, name="image_file"),
    path("images/<uuid:pk>/thumbnail/", views.image_thumbnail, name="image_thumbnail"),
    path("images/<uuid:pk>/star/", views.image_star, name="image_star"),
    path("images/<uuid:pk>/delete/", views.image_delete, name="image_delete"),
    path("images/selection/", views.images_bulk, name="images_bulk"),
    path("references/<int:pk>/", views.reference_file, name="reference_file"),
]
