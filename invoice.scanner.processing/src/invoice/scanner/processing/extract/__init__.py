"""Helpers shared by the local provider and the extraction stage: label vocabularies,
typed value patterns, normalizers and page-layout utilities."""
