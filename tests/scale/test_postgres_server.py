"""The tests' own PostgreSQL (tests/support/postgres_server.py) starts, stops and comes
back with its data."""

from __future__ import annotations

from support.postgres_server import PostgresServer


def test_the_test_postgresql_stops_and_restarts_with_its_data(
    postgres_server: PostgresServer,
) -> None:
    dsn = postgres_server.new_database()
    database = dsn.rsplit("/", 1)[1]
    postgres_server.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (41)", database)
    postgres_server.stop()
    assert not postgres_server.ready()
    postgres_server.start()
    assert postgres_server.psql("SELECT n + 1 FROM kept", database).strip() == "42"
