"""What the declared operations (service/api/operations.py, pydantic query models) cost, before and
after, in one run (issue 16, item 10).

    python bench/api_validation.py [--before 501872b] [--requests 2000] [--runs 5]

The code at --before (git archive, the hand-written document and argument readers) and this code
are each measured in fresh processes, one after the other:

    import      seconds to import service.app and service.api (pydantic included after)
    app         seconds for create_app over an empty store
    document    seconds to build the OpenAPI document (the served one is built once per app)
    check       µs for the query check alone of GET /api/v1/audit?limit=50&entity=demands
    body        µs to read POST /api/v1/me/password's body: JSON parse + OwnPasswordInput after, the
                JSON parse alone before (the view's own type checks, a few µs, are not counted)
    request     µs per that GET as a broker through the test client (auth, query check, one query on an
                empty table), and per a refused GET /api/v1/audit?limit=5000 (auth, query check, the 400)

The µs figures are the fastest tenth of the calls; each figure is the median over --runs processes. The CPU model is printed from /proc/cpuinfo.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(tree: Path, requests: int) -> dict:
    """One process's figures for the code in `tree`."""
    sys.path.insert(0, str(tree))
    started = time.perf_counter()
    from service import auth, store
    from service.app import create_app
    import service.api as api
    imported = time.perf_counter() - started
    document = api.document if hasattr(api, "document") else __import__("service.openapi").openapi.document

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        app = create_app({"TESTING": True, "DATABASE": f"{folder}/m.db", "INSTANCE": folder, "SECRET_KEY": "bench"})
        created = time.perf_counter() - started
        db = store.open_db(f"{folder}/m.db")
        _, _, token = auth.create_user(db, "bench", "broker", None, "bench-password", actor="bench")
        db.close()
        started = time.perf_counter()
        document()
        documented = time.perf_counter() - started
        client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
        timings = {"check_us": query_check_us(app), "body_us": body_check_us(app)}
        for name, query, status in (("request_ok_us", "limit=50&entity=demands", 200),
                                    ("request_refused_us", "limit=5000", 400)):
            assert client.get(f"/api/v1/audit?{query}", headers=headers).status_code == status
            timings[name] = fastest_chunk(lambda: client.get(f"/api/v1/audit?{query}", headers=headers), requests)
    return {"import_s": imported, "app_s": created, "document_s": documented, **timings}


def query_check_us(app) -> float:
    """The query check alone: the declared model's, or before it the hand-written int_arg."""
    with app.test_request_context("/api/v1/audit?limit=50&entity=demands"):
        try:
            from service.api.operations import declaration
            check = declaration(app.view_functions["api.audit.index"]).read_query
        except ImportError:
            from flask import request
            from service.api.base import int_arg

            def check():
                return request.args.get("entity"), request.args.get("entity_id"), int_arg("limit", 100, high=1000)
        return fastest_chunk(check, 20_000)


def body_check_us(app) -> float:
    """Reading POST /api/v1/me/password's body: the declared model's parse and check, or before it the
    JSON parse alone (the view then checked the two fields' types by hand)."""
    body = {"old_password": "old-password", "new_password": "new-password"}
    with app.test_request_context("/api/v1/me/password", method="POST", json=body):
        try:
            from service.api.operations import declaration
            read = declaration(app.view_functions["api.users.change_own_password"]).read_body
        except ImportError:
            from service.api.base import json_body as read
        return fastest_chunk(read, 20_000)


def fastest_chunk(call, count: int, chunks: int = 10) -> float:
    """µs per call in the fastest tenth of `count` calls: the machine is shared, the least disturbed
    stretch is the closest to the code's own cost."""
    best = float("inf")
    for _ in range(chunks):
        started = time.perf_counter()
        for _ in range(count // chunks):
            call()
        best = min(best, (time.perf_counter() - started) / (count // chunks))
    return best * 1e6


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="501872b", help="the commit before the declarations")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(Path(args.worker), args.requests)))
        return
    print(f"CPU: {cpu_model()}; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as before_tree:
        subprocess.run(f"git -C {ROOT} archive {args.before} service matching | tar -x -C {before_tree}",
                       shell=True, check=True)
        runs = {"before": [], "after": []}
        for _ in range(args.runs):  # interleaved, so a busy spell on the machine falls on both
            for label, tree in (("before", before_tree), ("after", str(ROOT))):
                finished = subprocess.run([sys.executable, __file__, "--worker", tree, "--requests", str(args.requests)],
                                          capture_output=True, text=True, check=True, cwd=tree)
                runs[label].append(json.loads(finished.stdout.strip().splitlines()[-1]))
    print(f"{'':22}{'before':>12}{'after':>12}{'after − before':>16}")
    for name in runs["before"][0]:
        before = statistics.median(run[name] for run in runs["before"])
        after = statistics.median(run[name] for run in runs["after"])
        scale, unit = (1, "µs") if name.endswith("_us") else (1000, "ms")
        print(f"{name:22}{before * scale:>10.1f}{unit}{after * scale:>10.1f}{unit}{(after - before) * scale:>+14.1f}{unit}")


if __name__ == "__main__":
    main()
