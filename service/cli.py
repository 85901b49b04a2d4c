"""The `matchmaker` command line: the contract in ARCHITECTURE.md.

    $ matchmaker --db instance/matchmaker.db import demands data/demands/*.jsonl
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import importers, store

RECORD_KINDS = ("demands", "supplies", "cooperations")
DEFAULT_DB = Path("instance") / "matchmaker.db"


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


def main():
    cli(prog_name="matchmaker")


if __name__ == "__main__":
    main()
