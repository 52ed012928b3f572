"""The Gradio chat and HTTP API over `qa` (see ui.app), and its `qa chat` command (see ui.command)."""
