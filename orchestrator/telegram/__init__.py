"""Telegram: the edge to the Bot API (`bot_api`: python-telegram-bot, the sender with retries and redaction, the
updates a control job reads). A package of its own like `github/` and `agents/`, one outside system each; what
the commands mean lives in `policy/control_commands.py` and what they do in `control/` and `jobs/telegram_control.py`."""
