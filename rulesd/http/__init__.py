"""The daemon's HTTP endpoint: metrics, health, the status API and page."""
