"""What rules remember: the in-memory StateStore and the persistent state database."""

from rulesd.state.store import SEEN_RETENTION_S, Changes, Needs, StateStore

__all__ = ["SEEN_RETENTION_S", "Changes", "Needs", "StateStore"]
