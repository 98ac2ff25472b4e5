"""A local stand-in for the Pixazo gateway's Higgsfield Soul API, over real HTTP.

The contract it speaks is written down in ``docs/UPSTREAM.md`` and defined in code in
:mod:`soulwire` (paths, headers, statuses, parameters, webhook signatures), which the
sandbox shares with soulsite's client. It imports only the standard library, Pillow,
:mod:`soulwire` and ``standardwebhooks``: it is a separate program that happens to live
in the repository, and runs without Django (``python -m soulsandbox``, see :mod:`.cli`).

Behaviour worth knowing when testing against it:

- Jobs are ``queued`` for ``queue_seconds``, then ``in_progress``, then terminal at
  ``complete_seconds`` after the submit (a float, or ``"2-10"`` for a uniformly random
  duration per job set). Statuses are computed from the wall clock on each poll.
- The prompt picks the outcome (:mod:`.jobsets`): ``nsfw``, ``fail``, ``partial`` (in a
  batch of 4) and ``forever``.
- Result images and style previews are served without a key, like a CDN, and drawn ahead
  while their job set "generates" (:mod:`.state`, :mod:`.render`).
- ``/_sandbox/stats``, ``/_sandbox/reset``, ``/_sandbox/faults`` and ``/_sandbox/script``
  exist for tests and benchmarks (:mod:`.app`).
- Faults (all off by default, :mod:`.faults`, settings in :class:`SandboxConfig`) apply to
  submit and poll requests only.
- A submit with ``webhook_url`` and ``webhook_secret`` gets the finished job set POSTed
  there, signed the Standard Webhooks way (:mod:`.webhooks`).

The rooms: :mod:`.config` (settings), :mod:`.jobsets` (a job set and its shapes),
:mod:`.state` (the store and counters), :mod:`.faults`, :mod:`.webhooks`, :mod:`.styles`,
:mod:`.render` (images), :mod:`.responses`, :mod:`.app` (WSGI routes), :mod:`.server`
(the socket), :mod:`.cli` (flags and SOUL_SANDBOX_* variables).
"""

from soulsandbox.config import SandboxConfig
from soulsandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxServer"]
