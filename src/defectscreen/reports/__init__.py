"""Figures and reports people read."""
