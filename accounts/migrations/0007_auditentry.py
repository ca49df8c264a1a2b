"""The quota audit becomes the one audit log (AuditEntry), append-only on PostgreSQL too.

Existing quota rows are kept as they are (renamed table); the new columns describe
entries that are not about a quota. On PostgreSQL a trigger refuses UPDATE and DELETE,
except the one update Django's SET_NULL makes when a person or group is deleted:
nulling a foreign key while every other column stays the same.
"""

from django.db import migrations, models

TRIGGER = """
CREATE OR REPLACE FUNCTION darkroom_audit_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE'
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
CREATE TRIGGER accounts_auditentry_append_only
  BEFORE UPDATE OR DELETE ON accounts_auditentry
  FOR EACH ROW EXECUTE FUNCTION darkroom_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS accounts_auditentry_append_only ON accounts_auditentry;
DROP FUNCTION IF EXISTS darkroom_audit_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


def _name_actors(apps, schema_editor):
    AuditEntry = apps.get_model("accounts", "AuditEntry")
    for entry in AuditEntry.objects.filter(actor__isnull=False).select_related("actor"):
        AuditEntry.objects.filter(pk=entry.pk).update(
            actor_name=entry.actor.username, target_type="quota"
        )
    AuditEntry.objects.filter(actor__isnull=True).update(target_type="quota")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_group_pools"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RenameModel("QuotaAudit", "AuditEntry"),
        migrations.AlterModelOptions(
            name="auditentry",
            options={
                "ordering": ["-at", "-id"],
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit log",
            },
        ),
        migrations.AddField(
            model_name="auditentry",
            name="actor_name",
            field=models.CharField(blank=True, max_length=150, verbose_name="by"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="target_type",
            field=models.CharField(
                blank=True, db_index=True, max_length=40, verbose_name="target type"
            ),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="target_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="target id"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="detail",
            field=models.JSONField(blank=True, default=dict, verbose_name="detail"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="ip",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="from address"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(db_index=True, max_length=40, verbose_name="action"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="model",
            field=models.CharField(blank=True, max_length=200, verbose_name="model"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="field",
            field=models.CharField(blank=True, max_length=40, verbose_name="field"),
        ),
        migrations.RunPython(_name_actors, migrations.RunPython.noop),
        migrations.RunPython(_on_postgresql(TRIGGER), _on_postgresql(DROP)),
    ]
