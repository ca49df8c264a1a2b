from django.urls import path

from generations.reports import views

urlpatterns = [
    path("usage/", views.usage_report, name="usage_report"),
    path("usage/<str:table>.csv", views.usage_csv, name="usage_csv"),
    path("spend/", views.spend_report, name="spend_report"),
    path("spend/<str:table>.csv", views.spend_csv, name="spend_csv"),
]
