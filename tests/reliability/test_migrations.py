"""Schema changes go through migrations: ``flask db upgrade`` on an empty database produces
exactly the schema the models describe (no autogenerate differences), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from shop.extensions import db

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")


def _head() -> str:
    """The newest revision in migrations/versions."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return ScriptDirectory.from_config(config).get_current_head()


def _empty(app: Any) -> None:
    """Drop whatever the app created at start, so the migrations start from nothing."""
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_upgrade_produces_exactly_the_models_schema(make_app_db: Callable[..., Any]) -> None:
    """Every table, column, type, index and named constraint: no difference left to migrate."""
    app = make_app_db()
    with app.app_context():
        _empty(app)
        assert inspect(db.engine).get_table_names() == []
        flask_migrate.upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert diff == []
    assert version == _head() == "0008_deposit_amounts"


def test_downgrade_to_base_removes_every_table(make_app_db: Callable[..., Any]) -> None:
    """The initial migration is reversible (a developer can start over with downgrade/upgrade)."""
    app = make_app_db()
    with app.app_context():
        _empty(app)
        flask_migrate.upgrade(directory=MIGRATIONS)
        flask_migrate.downgrade(directory=MIGRATIONS, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_constraint_names_follow_the_naming_convention(make_app_db: Callable[..., Any]) -> None:
    """Named constraints are what lets a later migration alter them (on SQLite via batch mode)."""
    app = make_app_db()
    with app.app_context():
        _empty(app)
        flask_migrate.upgrade(directory=MIGRATIONS)
        inspector = inspect(db.engine)
        assert inspector.get_pk_constraint("orders")["name"] in ("pk_orders", None)  # SQLite does not keep PK names
        assert {u["name"] for u in inspector.get_unique_constraints("orders")} == {"uq_orders_ordr_idxx"}
        fks = {fk["name"] for fk in inspector.get_foreign_keys("payments")}
        assert fks == {"fk_payments_order_id_orders"}
        assert "ix_orders_status" in {i["name"] for i in inspector.get_indexes("orders")}
        db.engine.dispose()


def test_a_fresh_database_starts_at_the_newest_migration(make_app_db: Callable[..., Any]) -> None:
    """First start on an empty database: tables made and stamped, so a later `flask db upgrade` is a no-op
    (and several gunicorn workers can then start against it)."""
    app = make_app_db()
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == _head()
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata) == []
        flask_migrate.upgrade(directory=MIGRATIONS)  # nothing to do, nothing fails
        db.engine.dispose()


def test_a_database_behind_the_code_is_reported(make_app_db: Callable[..., Any], caplog) -> None:
    """Tables without a migration stamp: the start-up warning says which command settles it."""
    app = make_app_db()
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        db.engine.dispose()
    with caplog.at_level("WARNING", logger="shop"):
        make_app_db()
    assert "flask db upgrade" in caplog.text and "flask db stamp head" in caplog.text


def test_0003_keeps_old_rows_and_its_downgrade_writes_the_sentences_out(make_app_db: Callable[..., Any]) -> None:
    """Rows from before 0003 keep their text (params NULL: shown as stored); going back to 0002 turns
    every message id with params into its English sentence, so the older code shows nothing broken."""
    app = make_app_db()
    with app.app_context():
        _empty(app)
        flask_migrate.upgrade(directory=MIGRATIONS, revision="0002")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO orders (id, ordr_idxx, product_id, good_name, amount, currency, status, "
                              "status_reason, paid_amount, refunded_amount, buyer_name, buyer_email, buyer_phone, "
                              "created_at, updated_at) VALUES (1, 'KRS1', 'tea', 'tea', 12000, '410', 'paid', "
                              "'approved by KCP (tno 1)', 12000, 0, '', '', '', '2026-01-01', '2026-01-01')"))
        flask_migrate.upgrade(directory=MIGRATIONS)
        with db.engine.begin() as conn:
            row = conn.execute(text("SELECT status_reason, status_reason_params FROM orders")).one()
            assert tuple(row) == ("approved by KCP (tno 1)", None)
            conn.execute(text("INSERT INTO state_changes (order_id, from_status, to_status, cause, cause_params, actor, "
                              "created_at) VALUES (1, 'awaiting_deposit', 'paid', :cause, :params, "
                              "'kcp-notification', '2026-01-01')"),
                         {"cause": "notification %(noti_id)s: %(why)s",
                          "params": '{"noti_id": "N1", "why": {"_msg": "deposit of %(amount)s differs from the order '
                                    'amount %(order_amount)s", "_params": {"amount": 9000, "order_amount": 12000}}}'})
        flask_migrate.downgrade(directory=MIGRATIONS, revision="0002")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT cause FROM state_changes")).scalar_one() == (
                "notification N1: deposit of 9000 differs from the order amount 12000")
            assert conn.execute(text("SELECT status_reason FROM orders")).scalar_one() == "approved by KCP (tno 1)"
        db.engine.dispose()
