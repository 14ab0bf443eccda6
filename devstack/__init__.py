"""The local stack: real Postgres and embedded ClickHouse for tests, `make run` and `make bench`."""
