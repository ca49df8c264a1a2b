"""The role the app runs as on PostgreSQL: rows yes, schema and the audit log's history no.

Migrations run as the database's owner; web, worker and beat connect as this role,
which can read and write rows but not change tables, drop or disable triggers (only
the owner can), nor DELETE or TRUNCATE the audit log. Run after every `migrate`
(compose's one-shot `migrate` does): tables a migration added are granted then.
"""

from __future__ import annotations

from django.db import connection, transaction

from accounts.models import AuditEntry

_GRANTS = [
    "GRANT CONNECT ON DATABASE {db} TO {role}",
    "GRANT USAGE ON SCHEMA public TO {role}",
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    "REVOKE CREATE ON SCHEMA public FROM {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    # UPDATE stays: the trigger lets through only the SET_NULL of a deleted person's key.
    "REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON {audit} FROM {role}",
]


def app_role_ensure(*, role: str, password: str) -> None:
    """Create or update `role` (LOGIN, no superuser or DDL rights) and grant what the app uses."""
    if connection.vendor != "postgresql":
        raise RuntimeError("database roles are a PostgreSQL matter; this database is not one")
    qn = connection.ops.quote_name
    names = {
        "role": qn(role),
        "db": qn(connection.settings_dict["NAME"]),
        "audit": qn(AuditEntry._meta.db_table),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        cursor.execute(
            f"{verb} ROLE {names['role']} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            "NOREPLICATION NOBYPASSRLS PASSWORD %s",
            [password],
        )
        for statement in _GRANTS:
            cursor.execute(statement.format(**names))
