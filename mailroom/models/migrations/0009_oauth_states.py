from tortoise import migrations
from tortoise.migrations import operations as ops
from mailroom.choices import Provider
from tortoise.fields.base import OnDelete
from uuid_utils.compat import uuid7
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_utc_times')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OAuthState',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('digest', fields.CharField(unique=True, max_length=64)),
                ('provider', fields.CharEnumField(description='IMPORT: IMPORT\nFORWARDING: FORWARDING\nIMAP: IMAP\nGMAIL: GMAIL\nMICROSOFT: MICROSOFT', enum_type=Provider, max_length=16)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('verifier', fields.TextField(unique=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oauth_state', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
    ]
