"""Rendering and sending alerts."""
