"""Every Flask extension object, created unbound; `create_app` binds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from flask import g, has_request_context
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

#: One naming convention for every constraint, so migrations name them the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    if TYPE_CHECKING:
        #: Every model maps one table (no joined or polymorphic mappings), so Core insert/update
        #: statements take `Model.__table__` as the Table it is.
        __table__: ClassVar[Table]


class RequestSession(FlaskSQLAlchemySession):
    """The ORM session of a request (or a command). When a request's first use of the database
    creates it, it first takes in what the request read before (the signed-in user:
    crm.accounts.session), so a query finds that object rather than loading a second copy."""

    def __init__(self, db: SQLAlchemy, **options: Any) -> None:
        super().__init__(db, **options)
        if has_request_context():
            join = g.pop(JOIN_REQUEST_SESSION, None)
            if join is not None:
                join(self)


#: Key in `g` of what `RequestSession` calls with itself when the request's session is created.
JOIN_REQUEST_SESSION = "_crm_join_request_session"

db = SQLAlchemy(model_class=Base, session_options={"class_": RequestSession})

if TYPE_CHECKING:
    # The type checker cannot subclass `db.Model` (a variable); it is Base's Flask-SQLAlchemy
    # subclass at run time, so checking against Base types every model's Mapped[...] columns.
    Model = Base
else:
    Model = db.Model
# Flask-Migrate (alembic, mako, pygments: ~12 MB) is bound only for the `flask db` commands:
# `crm.register_migrations`.
login_manager = LoginManager()
csrf = CSRFProtect()
#: Storage is chosen in create_app: Redis when REDIS_URL is set, memory otherwise.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
