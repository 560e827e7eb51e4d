"""Rule conditions and the rule engine."""
