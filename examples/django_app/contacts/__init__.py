"""Contacts extracted from free text by an LLM batch job."""
