"""Named writes: what people and admins do (keep images, run teams, ask for job sets).

Views, admin and commands call these and write nothing themselves. An action that changes
spend or kept images refreshes the daily roll-up itself (generations.ledger.rollup).
"""
