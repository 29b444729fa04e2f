"""QR rendering of code tokens: a PNG data URL for web pages and an SVG string for print (error correction M)."""

from __future__ import annotations

import base64
import functools
import io

import qrcode
import qrcode.constants
import qrcode.image.svg


def _qr(text: str, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(text)
    code.make(fit=True)
    return code


# Rendering costs ~0.1 s; the same vendor code and pickup token are shown again and again.
@functools.lru_cache(maxsize=512)
def png_data_url(text: str, box_size: int = 8) -> str:
    """`data:image/png;base64,...` of the QR code of `text`."""
    buffer = io.BytesIO()
    _qr(text, box_size).make_image().save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=512)
def svg(text: str) -> str:
    """A standalone SVG document of the QR code of `text`."""
    image = _qr(text, box_size=10).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")
