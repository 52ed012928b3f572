"""On/off switches read from the environment ($QA_QUERY_ADAPTER, $QA_FAST_QUERIES, $HF_HUB_OFFLINE), parsed one
way everywhere."""

from __future__ import annotations

import os

ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")


def switch(name: str, default: bool) -> bool:
    """$name as a switch: one of ON or OFF (any case, spaces ignored); unset or anything else gives `default`."""
    value = os.environ.get(name, "").strip().lower()
    return True if value in ON else False if value in OFF else default
