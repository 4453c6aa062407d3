"""Column factories for the tables: a primary key, a NOT NULL column, a nullable one.

Each returns the SQLModel `Field` wrapping a SQLAlchemy `Column`, so a table states a column in
one short line (`qty: int = req(BigInteger)`); keyword arguments go to the `Column`
(`index=True`, `default=0`, `autoincrement=False`), except `py_default`: the attribute's default
when a row object is built in Python.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Column
from sqlalchemy.types import TypeEngine
from sqlmodel import Field

TypeArg = TypeEngine[Any] | type[TypeEngine[Any]]


def key(type_: TypeArg, **column: Any) -> Any:
    """A primary-key column."""
    return Field(sa_column=Column(type_, primary_key=True, **column))


def req(type_: TypeArg, *, py_default: Any = PydanticUndefined, **column: Any) -> Any:
    """A NOT NULL column."""
    return Field(default=py_default, sa_column=Column(type_, nullable=False, **column))


def opt(type_: TypeArg, **column: Any) -> Any:
    """A nullable column, None by default."""
    return Field(default=None, sa_column=Column(type_, nullable=True, **column))
