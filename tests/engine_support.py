"""What several engine tests compare: every ranking an engine gives."""
from __future__ import annotations

import json


def every_ranking(engine) -> list[tuple]:
    """Every record's top 5 in both directions, with scores and explanations."""
    rankings = []
    for kind, side in (("demands", engine.matcher.demands), ("supplies", engine.matcher.supplies)):
        propose = engine.propose_for_demand if kind == "demands" else engine.propose_for_supply
        for record_id in sorted(side.records):
            rankings += [(p.query_id, p.candidate_id, p.rank, p.score, json.dumps(p.reasons, sort_keys=True))
                         for p in propose(record_id, k=5)]
    return rankings
