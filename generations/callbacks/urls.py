from django.urls import path

from generations.callbacks import views

# Mounted at /providers/ (config/urls.py): the URL every in-flight BFL task carries.
app_name = "providers"
urlpatterns = [
    path("webhooks/bfl/<uuid:generation_id>/", views.bfl_webhook, name="bfl-webhook"),
]
