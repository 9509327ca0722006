"""The rows the completion callback writes: one per typed result."""

from django.db import models


class ExtractedContact(models.Model):
    job_id = models.CharField(max_length=64, db_index=True)
    custom_id = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=200)
    age = models.IntegerField()
