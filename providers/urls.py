from django.urls import path

from . import views

app_name = "providers"
urlpatterns = [
    path("webhooks/bfl/<uuid:generation_id>/", views.bfl_webhook, name="bfl-webhook"),
]
