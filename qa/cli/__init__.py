"""The `qa` command line: a thin click shell over the public API (`qa/__init__`), `--json` everywhere;
`qa chat` comes from the `ui` package through an entry point.
"""


def main() -> None:
    """Run the `qa` command (`qa.cli.app.main`; the `qa` script and `python -m qa` call this). Imported when run,
    so `qa.cli.options`, which `qa eval` shares, loads without the whole command tree."""
    from qa.cli.app import main as command

    command()
