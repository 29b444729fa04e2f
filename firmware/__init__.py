"""What goes onto the Pi below the agent: systemd units, boot overlays, watchdog, updates."""

from pathlib import Path

EDGE_UNIT = Path(__file__).with_name("dorpskluis-edge.service")
