from django.urls import path

from . import views

urlpatterns = [
    path("", views.api_keys, name="api_keys"),
    path("<str:key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
]
