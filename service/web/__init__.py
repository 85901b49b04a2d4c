"""The pages brokers, enterprises and research platforms work in (zh-CN, server-rendered).

One blueprint, `bp` (in blueprint.py), registered by create_app; its templates and its one
stylesheet live beside it. Routes are grouped by concern: lists.py (the two lists, details,
post/edit forms), review.py (the broker queue, cooperations, gaps, audit log). Error pages are
service/http_errors.py's, which answers the API and the pages alike.
"""
from __future__ import annotations

from . import lists, review  # noqa: F401  (their routes register on bp)
from . import reports  # noqa: F401  (the monthly report page)
from . import sessions  # noqa: F401  (专题对接 and 双走进 pages)
from . import accounts  # noqa: F401  (the administrator's pages: /admin, /users)
from . import imports  # noqa: F401  (the admin's imports and re-index pages)
from . import learning  # noqa: F401  (the admin's "learn from decisions" button)
from .blueprint import bp  # noqa: F401
