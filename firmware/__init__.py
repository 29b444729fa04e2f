"""What goes onto the Pi below the agent: systemd units, boot overlays, watchdog, updates."""

from pathlib import Path

EDGE_UNIT = Path(__file__).with_name("dorpskluis-edge.service")
HARDWARE_WATCHDOG = Path(__file__).with_name("watchdog.conf")  # /etc/systemd/system.conf.d/dorpskluis-watchdog.conf
BOOT_CONFIG = Path(__file__).with_name("config.txt.fragment")  # appended to /boot/firmware/config.txt
