"""Served models: a server's token and request counters beside the measured energy."""
