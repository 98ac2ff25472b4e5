"""A job set's life: waiting here, sent, polled, its images downloaded, finished.

One module per step, each importing only the ones below it:

- ``tracker``: the loop (a lease, a tick) that sends what waits and tracks what is in flight;
  ``wake`` and ``ensure_schedule`` keep it running.
- ``poll``: ``track`` one claimed job set: poll it, download what finished, finish it.
- ``send``: claim the next waiting job set under the in-flight cap (unconfirmed ones hold a
  slot for a while), send it, act on the answer; send an unconfirmed one again with its key.
- ``download``: fetch a batch's finished images at the same time and record each outcome.
- ``finish``: finish a job set from its jobs, end one early with a reason, settle a charge;
  the lifecycle's only refresh of the spend roll-up.
- ``reports``: merge what the gateway reported into the job set's jobs.
- ``claims``: the one helper that takes and lets go of claims; what is due and when.
- ``timing``: when to poll, from how long recent job sets of the same kind took.
- ``attempts``: the attempt history.
- ``policy``: the rules as pure functions (what may happen next, outcome, charge, poll delay).
- ``leases``, ``backoff``: named locks that expire; how long to wait before trying again.
- ``shutdown``: the flag a stopping cluster sets, so the loop and the sender end early.

Nothing here renders or knows about requests from people: views and admin go through
generations.actions, and the django-q2 tasks (generations.tasks) call ``send`` and ``tracker``.
"""
