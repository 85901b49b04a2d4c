"""The SQLite store: schema and named queries through sqlite-utils. The one place SQL lives.

    >>> db = open_db(":memory:")
    >>> upsert_records(db, "demands", [{"id": "D1", "title": "注塑件缩痕", "description": "良品率低"}])
    1
    >>> get_record(db, "demands", "D1")["title"]
    '注塑件缩痕'

One module per aggregate; callers use the names below as `store.X`:
    schema      every table, index and upgrade; open_db()
    records     demands and supplies, their embedding and token caches
    proposals   proposals, decisions, cooperations
    sessions    themed matchmaking sessions and visits
    users       accounts and failed logins
    changes     the change sequence every server process follows
    audit       the audit log
    facts       headline counts and the monthly report's raw facts
    rankers     learning runs (service/learning.py)
    backup      online backup, check, restore
    base        transactions, timestamps, the refusals (service.errors) and the row helpers they all share
"""
from .audit import audit, audit_entries, audit_entry, audit_values, count_audit_entries
from .backup import backup_database, check_database, restore_database
from .base import BOOKKEEPING, Conflict, now, snapshot, transaction
from .changes import changes_since, data_version, last_change, record_change
from .facts import headline_counts, report_facts
from .proposals import (OPEN_PROPOSAL_STATUSES, PROPOSAL_ORDERS, add_cooperation, add_decision, busiest_party,
                        count_cooperations, count_proposals, count_proposals_per_record, date_proposals_by_posting,
                        decided_pairs, decisions_for, delete_cooperation, get_cooperation, get_cooperation_by_id,
                        get_proposal, get_proposal_for_pair, last_decision, list_cooperations, list_proposals,
                        mark_decision_undone, save_proposals, update_proposal, upsert_cooperations)
from .rankers import add_ranker, latest_ranker
from .records import (EmbeddingCache, TokenCache, count_records, delete_record, distinct_values, export_records,
                      get_record, ids, list_records, next_record_id, record_texts, records_by_id, save_record,
                      upsert_records)
from .schema import PROPOSAL_EXTRA_COLUMNS, ensure_schema, open_db
from .sessions import (add_session, add_session_pair, add_visit, delete_session_pair, get_session,
                       get_session_pair, get_visit, link_cooperation_to_session, link_demand_to_visit,
                       list_sessions, list_visits, session_figures_by, session_pairs, update_session_pair,
                       visit_demands, visit_figures_by)
from .users import (add_login_failure, add_user, clear_login_failures, get_user, get_user_by_name, get_user_by_token,
                    list_users, public_user, recent_login_failures, update_user)
