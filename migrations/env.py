"""Alembic environment of the shop (Flask-Migrate): ``flask db upgrade`` / ``flask db migrate``.

The target is the shop's own ``db.metadata`` (shop.extensions), whose naming convention gives
every index and constraint a stable name, so later migrations can drop or alter them by name on
SQLite and PostgreSQL alike. SQLite cannot ALTER most things in place, hence batch mode
("move and copy"), which uses the same names. ``compare_type`` makes autogenerate notice a
changed column type (e.g. String(20) -> String(40)), not only added/removed columns.
"""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app

config = context.config
# Logging set-up for the command line only; inside the running app (or tests) the app's own
# logging stays as it is (fileConfig would otherwise disable the shop's loggers).
if config.config_file_name is not None and not current_app.testing:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

db = current_app.extensions["migrate"].db
config.set_main_option("sqlalchemy.url", db.engine.url.render_as_string(hide_password=False).replace("%", "%%"))


def target_metadata() -> Any:
    """The shop's metadata (with its naming convention), after importing every model module."""
    import shop.audit  # noqa: F401  (AuditLog, AdminSession)
    import shop.models  # noqa: F401

    return db.metadata


def _configure_args() -> dict[str, Any]:
    """Flask-Migrate's arguments plus ours: batch mode, type comparison, no empty revisions."""

    def skip_empty(_context: Any, _revision: Any, directives: list[Any]) -> None:
        """``flask db migrate`` with no model change writes no file."""
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            log.info("No changes in schema detected.")

    args = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", skip_empty)
    args.setdefault("render_as_batch", True)
    args.setdefault("compare_type", True)
    return args


def run_migrations_offline() -> None:
    """``flask db upgrade --sql``: print the SQL instead of running it."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata(),
                      literal_binds=True, **{k: v for k, v in _configure_args().items() if k != "process_revision_directives"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the app's own engine."""
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata(), **_configure_args())
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
