"""The example's routes."""

from contacts import views
from django.urls import path

urlpatterns = [
    path("contacts/extract", views.extract, name="extract"),
    path("contacts/jobs/<str:job_id>", views.job_status, name="job-status"),
]
