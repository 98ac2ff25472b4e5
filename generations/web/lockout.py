"""Who a run of failed logins locks out: one account from one address, and, much later, the account.

django-axes counts failures per (username, address) pair (``AXES_LOCKOUT_PARAMETERS``), and locks
the pair after ``AXES_FAILURE_LIMIT``: one person's typos in an office behind one address lock
out that account from that address, not the office, and not that person at home. On top of
axes, this handler also locks an account from every address once it has
``AXES_ACCOUNT_FAILURE_LIMIT`` failures in the cool-off period, wherever they came from: guessing
one account's password from many addresses gets that many tries, not ``AXES_FAILURE_LIMIT`` per
address (docs/DECISIONS.md, "Lockout by username and address").
"""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum


class PairThenAccountHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials: dict | None = None) -> int:
        """The pair's failures, or the lockout count once the account's own limit is reached.

        Both of axes' decisions go through here (refusing a login, and locking after a failure),
        so the account limit locks the same way the pair's does.
        """
        pair = super().get_failures(request, credentials)
        limit = settings.AXES_ACCOUNT_FAILURE_LIMIT
        username = get_client_username(request, credentials)
        if not limit or not username:
            return pair
        attempts = AccessAttempt.objects.filter(username=username)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        account = attempts.aggregate(failures=Sum("failures_since_start"))["failures"] or 0
        if account >= limit:
            return max(pair, get_failure_limit(request, credentials))
        return pair
