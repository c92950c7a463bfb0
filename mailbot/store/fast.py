"""Statements that run straight on the DB-API connection on the hot path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    insert,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import class_mapper
from sqlmodel import Session, SQLModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Form:
    """A statement as SQLite gets it: the SQL text, and per ``?`` where its value comes
    from (a parameter's name, or the literal written into the statement) and how
    SQLAlchemy would convert it."""

    sql: str
    slots: tuple[tuple[str, bool, Any, Callable[[Any], Any] | None], ...]
    #: per result column of a SELECT, SQLAlchemy's conversion of what SQLite returns
    columns: tuple[Callable[[Any], Any] | None, ...] = ()

    def row(self, found: tuple[Any, ...]) -> tuple[Any, ...]:
        if not any(self.columns):
            return tuple(found)
        return tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(found, self.columns, strict=True)
        )

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, given, literal, process in self.slots:
            value = params[name] if given else literal
            values.append(value if process is None or value is None else process(value))
        return tuple(values)


class Prepared:
    """A Core statement that, on SQLite, runs straight on the DB-API connection.

    For the few statements of a mail's write transaction, SQLAlchemy's execution
    path (execution context, result object) cost three times what SQLite itself took,
    and the write turn is held meanwhile. The statement is compiled by SQLAlchemy
    once per set of parameter names, and each value goes through the conversion
    SQLAlchemy's type would apply, so the stored values are the same either way.
    Anything this cannot reproduce exactly (column defaults computed at execution,
    expanding IN lists) runs through SQLAlchemy, as does every other database.
    SQLAlchemy's cursor events do not fire for the SQLite path; its errors are
    raised as SQLAlchemy's exceptions.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._forms: dict[frozenset[str], _Form | None] = {}

    def _form(self, connection: Connection, keys: frozenset[str]) -> _Form | None:
        if connection.dialect.name != "sqlite" or not connection.in_transaction():
            return None
        try:
            return self._forms[keys]
        except KeyError:
            pass
        form = self._compile(connection.dialect, keys)
        self._forms[keys] = form
        return form

    def _compile(self, dialect: Any, keys: frozenset[str]) -> _Form | None:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=sorted(keys))
        if (
            not compiled.positional
            or compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.literal_execute_params
            or compiled.post_compile_params
        ):
            return None
        columns = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(self.statement, "selected_columns", ())
        )
        slots = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                return None
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            slots.append((name, name in keys, bind.value, process))
        return _Form(compiled.string, tuple(slots), columns)

    @staticmethod
    def _run(connection: Connection, form: _Form, call: Callable[[Any], Any]) -> Any:
        """``call`` with the DB-API connection; its errors raised as SQLAlchemy raises
        them (IntegrityError, OperationalError, ...), which is what callers handle."""
        dbapi = connection.dialect.loaded_dbapi
        try:
            return call(connection.connection.driver_connection)
        except dbapi.Error as exc:
            raise DBAPIError.instance(form.sql, None, exc, dbapi.Error) from exc

    def insert(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run an INSERT; the new row's id."""
        form = self._form(connection, frozenset(params))
        if form is None:
            key = connection.execute(self.statement, dict(params)).inserted_primary_key
            assert key is not None
            return int(key[0])
        args = form.args(params)
        return int(self._run(connection, form, lambda db: db.execute(form.sql, args).lastrowid))

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run an UPDATE or DELETE; the number of rows it matched."""
        form = self._form(connection, frozenset(params))
        if form is None:
            return int(connection.execute(self.statement, dict(params)).rowcount)
        args = form.args(params)
        return int(self._run(connection, form, lambda db: db.execute(form.sql, args).rowcount))

    def first(self, connection: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run a SELECT; its first row, or None."""
        form = self._form(connection, frozenset(params))
        if form is None:
            row = connection.execute(self.statement, dict(params)).first()
            return None if row is None else tuple(row)
        args = form.args(params)
        found = self._run(connection, form, lambda db: db.execute(form.sql, args).fetchone())
        return None if found is None else form.row(found)

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT; all its rows."""
        form = self._form(connection, frozenset(params))
        if form is None:
            return [tuple(row) for row in connection.execute(self.statement, dict(params))]
        args = form.args(params)
        found = self._run(connection, form, lambda db: db.execute(form.sql, args).fetchall())
        return [form.row(row) for row in found]

    def many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run an INSERT or UPDATE once per row (all rows with the same keys)."""
        if not rows:
            return
        form = self._form(connection, frozenset(rows[0]))
        if form is None:
            connection.execute(self.statement, [dict(r) for r in rows])
            return
        args = [form.args(r) for r in rows]
        self._run(connection, form, lambda db: db.executemany(form.sql, args))


def prepared_insert(table: Any) -> Prepared:
    """The one prepared INSERT of a table (a model class or its ``__table__``)."""
    return _insert_for(getattr(table, "__table__", table))


@cache
def _insert_for(table: Any) -> Prepared:
    return Prepared(insert(table))


_Row = TypeVar("_Row", bound=SQLModel)


def new_row(model: type[_Row], /, **values: Any) -> _Row:
    """A new row object, filled the way the ORM fills a row it loads: the values go
    straight into the instance. ``Model(**values)`` sets each column through an
    attribute event, which for a ticket's 22 columns cost ~4 % of a mail's time.
    Missing columns take their defaults; an unknown or missing required one raises
    TypeError as the constructor would. Meant for :func:`insert_row`."""
    unknown = values.keys() - model.model_fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no column {sorted(unknown)[0]!r}")
    filled: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in values:
            filled[name] = values[name]
        elif field.is_required():
            raise TypeError(f"{model.__name__} needs a value for {name!r}")
        else:
            filled[name] = field.get_default(call_default_factory=True)
    row: _Row = class_mapper(model).class_manager.new_instance()
    row.__dict__.update(filled)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


def insert_row(session: Session, row: SQLModel) -> int:
    """INSERT a new row without the ORM's unit of work (a millisecond a mail on the
    hot path); the object gets its id and stays outside the session, so later changes
    to it are not saved."""
    table = row.__table__  # type: ignore[attr-defined]
    values = {c.name: getattr(row, c.name) for c in table.columns if c.name != "id"}
    new_id = prepared_insert(table).insert(session.connection(), values)
    row.id = new_id
    return new_id
