"""The application's models, as an Alembic project has them.

aludel runs this file (`[models] command` in aludel.toml) and reads the
DDL it prints: SQLAlchemy's mock engine renders `create_all` without a
database, for the dialect aludel names in ALUDEL_DIALECT.
"""

import os

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    create_mock_engine,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[str] = mapped_column(server_default=func.current_timestamp())

    posts: Mapped[list["Post"]] = relationship(back_populates="author")

    __table_args__ = (CheckConstraint("length(email) > 3", name="email_long_enough"),)


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)

    author: Mapped[User] = relationship(back_populates="posts")

    __table_args__ = (Index("posts_author_title", "author_id", "title"),)


def print_ddl(dialect_name: str) -> None:
    url = {"sqlite": "sqlite://", "postgresql": "postgresql://", "mysql": "mysql://"}[dialect_name]

    def dump(sql, *multiparams, **params):
        print(str(sql.compile(dialect=engine.dialect)).strip() + ";")

    engine = create_mock_engine(url, dump)
    Base.metadata.create_all(engine, checkfirst=False)


if __name__ == "__main__":
    print_ddl(os.environ.get("ALUDEL_DIALECT", "sqlite"))
