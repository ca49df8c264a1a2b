from django.urls import path

from . import report_views

urlpatterns = [
    path("usage/", report_views.usage_report, name="usage_report"),
    path("usage/<str:table>.csv", report_views.usage_csv, name="usage_csv"),
]
