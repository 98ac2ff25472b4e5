"""Named reads: what the pages show, each spelled once (who may see what, the gallery, teams, spend).

They read the models and the ledger and write nothing, with one deliberate exception noted in
generations.queries.teams. Writes are generations.actions; the two never import each other.
"""
