"""Renderers: each takes a ``Run`` record and produces text. None measures anything."""
