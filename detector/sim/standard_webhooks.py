"""How a receiver verifies the daemon's webhook signature (Standard Webhooks), in the standard library alone.

This is the README's example ("Verifying the webhook signature"), which a test keeps identical to the code
below; the demo's and the delivery bench's receivers verify with it, so what the README shows is what runs.
"""

import base64
import hashlib
import hmac
import time


def verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > 300:
        raise ValueError("timestamp outside 5 minutes: a replay")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    if not any(hmac.compare_digest(expected, sig) for sig in headers["webhook-signature"].split()):
        raise ValueError("bad signature")
