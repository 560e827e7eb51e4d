"""Chat control: the Telegram bot that answers `/status`, `/mute`, `/watch`, ... in the
operators' chats. Leader-only: it runs in the daemon's term, like the sources."""
