"""Okta-shaped identifiers drawn from one seeded RNG per org, so a seed replays the same ids."""

from __future__ import annotations

import random
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


class IdFactory:
    """Makes ids like Okta's: `00u` + 17 chars for users, `00T` for tokens, 27-char request ids."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)

    def chars(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def okta_id(self, prefix: str) -> str:
        """A 20-char Okta object id with the given 3-char type prefix (`00u`, `00g`, `00T`, `opf`...)."""
        return prefix + self.chars(20 - len(prefix))

    def request_id(self) -> str:
        """An `X-Okta-Request-Id` / `transaction.id` like `XkccyyMli2Uay2I93ZgRzQAAB0c`."""
        return self.chars(23) + "AAA" + self.chars(1, string.ascii_uppercase)

    def error_id(self) -> str:
        return "oae" + self.chars(22)

    def session_id(self) -> str:
        """An `externalSessionId` in the Identity Engine shape (`idx...`)."""
        return "idx" + self.chars(22)

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def secret(self, n: int = 40) -> str:
        """Opaque values (access tokens, nonces). Seeded like the rest; this is a simulator, not a vault."""
        return self.chars(n, _ALNUM + "-_")
