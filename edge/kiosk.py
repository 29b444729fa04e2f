"""The locker's own screen: a small touchscreen page served by the agent on the Pi (127.0.0.1 by default). Type a
PIN or scan a code; it says which door opened, or why not, in plain words and large type. It only talks to the
agent in the same process, so it works with the uplink down."""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from edge.codecheck import Purpose
from edge.control import AgentControls
from edge.kiosk_texts import REFUSALS, TEXTS, wait_in_words
from lockers.errors import DorpskluisError
from lockers.protocol.messages import Method, RejectReason

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 4096  # a code is at most a few hundred characters
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("kiosk_templates")), autoescape=select_autoescape(["html"])
)


_OPENED = {
    Purpose.COLLECT: "opened",
    Purpose.LOAD: "opened_vendor",
    Purpose.RETRIEVE: "opened_retrieve",
    Purpose.LOAD_AND_RETRIEVE: "opened_both",
    Purpose.DEPOSIT: "opened_deposit",
}


def answer_for(
    ok: bool,
    opened: list[str],
    reason: str | None,
    language: str,
    method: str | None = None,
    purpose: str | None = None,
    wait_s: int | None = None,
) -> str:
    """The sentence for the person at the locker (pure): what to do with the open doors, or why none opened."""
    t = TEXTS[language]
    if ok:
        key = _OPENED.get(purpose or "", "opened_vendor" if method == Method.VENDOR else "opened")
        return t[key].format(compartments=", ".join(opened))
    if reason == RejectReason.NOT_YET_VALID and wait_s is not None and wait_s > 0:
        return t["too_early"].format(wait=wait_in_words(wait_s, language))
    try:
        return REFUSALS[language][RejectReason(reason)]
    except ValueError:
        return TEXTS[language]["busy"]


def _language(query: str) -> str:
    wanted = (parse_qs(query).get("lang") or ["nl"])[0]
    return wanted if wanted in TEXTS else "nl"


class KioskServer:
    """Serves the kiosk page until `stop`; scans go to the agent exactly as the scanner's would."""

    def __init__(self, agent: AgentControls, locker: str, host: str = "127.0.0.1", port: int = 8080) -> None:
        self._agent = agent
        self._locker = locker
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="kiosk", daemon=True)
        self._thread.start()
        log.info("kiosk screen at %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def page(self, language: str, answer: str = "", ok: bool = False) -> bytes:
        other = "en" if language == "nl" else "nl"
        html = _TEMPLATES.get_template("kiosk.html").render(
            lang=language, other=other, t=TEXTS[language], locker=self._locker, answer=answer, ok=ok
        )
        return html.encode("utf-8")

    def scan(self, code: str, language: str) -> tuple[str, bool]:
        if not code.strip():
            return TEXTS[language]["empty"], False
        try:
            result = self._agent.scan(code.strip())
        except DorpskluisError:
            return TEXTS[language]["busy"], False
        reason = str(result.reason) if result.reason else None
        answer = answer_for(
            result.ok, list(result.opened), reason, language, result.method, result.purpose, result.wait_s
        )
        return answer, result.ok

    def _handler_class(self):
        kiosk = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                if parts.path != "/":
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                    return
                self._send(HTTPStatus.OK, kiosk.page(_language(parts.query)))

            def do_POST(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                language = _language(parts.query)
                length = int(self.headers.get("Content-Length") or 0)
                if parts.path != "/" or length > MAX_FORM_BYTES:
                    self._send(HTTPStatus.BAD_REQUEST, kiosk.page(language, TEXTS[language]["busy"]))
                    return
                form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                answer, ok = kiosk.scan((form.get("code") or [""])[0], language)
                self._send(HTTPStatus.OK, kiosk.page(language, answer, ok))

            def _send(self, status: HTTPStatus, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")  # an answer must never show for the next person
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
                log.debug("kiosk: " + format, *args)

        return Handler
