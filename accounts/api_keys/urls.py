from django.urls import path

from accounts.api_keys import views

urlpatterns = [
    path("", views.api_keys, name="api_keys"),
    path("<str:key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
]
