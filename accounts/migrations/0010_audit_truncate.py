"""The audit log's trigger covers TRUNCATE too.

Only a superuser may still empty the table (the test runner's flush connects as one,
and a superuser could drop any trigger anyway); every other role, the table's owner
included, is refused. The app's own role (manage.py db_app_role) has no TRUNCATE right
to begin with.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION darkroom_audit_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
      RETURN NULL;
    END IF;
  ELSIF TG_OP = 'UPDATE'
     AND (to_jsonb(NEW) - 'actor_id' - 'user_id' - 'group_id')
         = (to_jsonb(OLD) - 'actor_id' - 'user_id' - 'group_id')
     AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
     AND (NEW.user_id IS NULL OR NEW.user_id = OLD.user_id)
     AND (NEW.group_id IS NULL OR NEW.group_id = OLD.group_id) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
END
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER accounts_auditentry_no_truncate
  BEFORE TRUNCATE ON accounts_auditentry
  FOR EACH STATEMENT EXECUTE FUNCTION darkroom_audit_append_only();
"""
DROP = "DROP TRIGGER IF EXISTS accounts_auditentry_no_truncate ON accounts_auditentry;"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("accounts", "0009_verbose_names")]

    operations = [
        migrations.RunPython(_on_postgresql(FUNCTION + TRIGGER), _on_postgresql(DROP)),
    ]
