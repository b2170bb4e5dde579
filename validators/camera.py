"""``maas-validator run``: judge codes from a camera, one verdict per code shown."""

from __future__ import annotations

import time
from collections.abc import Iterator

from validators.device import Check, Device, DeviceError

# a code held in front of the camera is read many times a second: judge it once
SAME_CODE_S = 3.0


def scan_forever(device: Device, source: str) -> Iterator[Check]:
    """Read frames from ``source`` (a camera index, a video file or URL) until it ends."""
    try:
        import cv2
        import zxingcpp
    except ImportError:
        raise DeviceError("`run` needs opencv-python and zxing-cpp "
                          "(pip install opencv-python-headless zxing-cpp)") from None
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise DeviceError(f"--camera {source}: cannot open it")
    last: dict[str, float] = {}
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            for found in zxingcpp.read_barcodes(frame):
                text = str(found.text)
                now = time.monotonic()
                if now - last.get(text, -SAME_CODE_S) < SAME_CODE_S:
                    continue
                last[text] = now
                yield device.check(text)
    finally:
        capture.release()
