"""The Gradio chat and HTTP API over `qa`, and its `qa chat` command (registered through the "qa.commands"
entry point, so the core never imports this package).

    command.py  `qa chat`: options, warnings, then server.launch
    server.py   launch (load once, serve) and serve (localhost, auth, no share link unless asked)
    app.py      build_app: the page's layout, wired to the handlers
    chat.py     the handlers: streaming answers, votes, the /ask, /search and /feedback endpoints
    markup.py   escaping, citation links and the sources panel
    feedback.py the feedback log (JSONL) and its rows
    strings.py  the page's words in Vietnamese and English, and friendly error messages
    assets.py   CSS, the marker-link script and the theme
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls from a local tool (before gradio)
