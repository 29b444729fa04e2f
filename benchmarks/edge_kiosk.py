"""A kiosk in its own process: each code read from stdin goes to the agent's control socket as a scan request,
one connection per code as `dorpskluis sim scan` does; prints when it asked (CLOCK_MONOTONIC, shared by every
process on Linux) and the answer, one JSON line per code.

python -m benchmarks.edge_kiosk SOCKET_PATH
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from edge.control import request


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    for line in sys.stdin:
        code = line.strip()
        if not code:
            continue
        asked = time.monotonic()
        answer = request("kiosk", {"cmd": "scan", "code": code}, path=path)
        answered = time.monotonic()
        said = {"asked": asked, "answered": answered, "ok": answer.get("ok"), "message": answer.get("message")}
        print(json.dumps(said))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
