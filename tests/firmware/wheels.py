"""Tiny wheels named like ours, for the installers' tests."""

from __future__ import annotations

import zipfile
from pathlib import Path


def tiny_wheel(wheelhouse: Path, requires: list[str], version: str = "9.9.9") -> Path:
    """A wheel named like ours with one module and the `dorpskluis` command, which prints "<version> here" (the
    wheel format written out by hand, PEP 427): what the real installers get handed, without building anything."""
    info = f"dorpskluis-{version}.dist-info"
    files = {
        "dkprobe.py": f"def main():\n    print('{version} here')\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: dorpskluis\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": "[console_scripts]\ndorpskluis = dkprobe:main\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    wheel = wheelhouse / f"dorpskluis-{version}-py3-none-any.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel
