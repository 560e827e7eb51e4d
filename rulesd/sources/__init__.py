"""Vendor stream adapters and the connection supervisor they share."""
