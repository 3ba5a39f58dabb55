from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid_utils.compat import uuid7
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_forwarding')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FolderCursor',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='folders', on_delete=OnDelete.CASCADE)),
                ('folder', fields.CharField(max_length=512)),
                ('role', fields.CharField(max_length=16)),
                ('uidvalidity', fields.BigIntField(null=True)),
                ('last_uid', fields.BigIntField(default=0)),
                ('highestmodseq', fields.BigIntField(null=True)),
                ('low_uid', fields.BigIntField(null=True)),
                ('total', fields.IntField(default=0)),
                ('done', fields.IntField(default=0)),
                ('synced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'folder_cursor', 'app': 'models', 'unique_together': (('mailbox', 'folder'),), 'pk_attr': 'id', 'table_description': "How far a mailbox's folder is synced: IMAP's UIDVALIDITY, the last UID stored, the"},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ProviderItem',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.CASCADE)),
                ('item', fields.CharField(max_length=600)),
                ('folder', fields.CharField(null=True, max_length=512)),
                ('uidvalidity', fields.BigIntField(null=True)),
                ('uid', fields.BigIntField(null=True)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'provider_item', 'app': 'models', 'unique_together': (('mailbox', 'item'),), 'indexes': [Index(fields=['mailbox_id', 'folder', 'uid'])], 'pk_attr': 'id', 'table_description': "A message as one mailbox's provider knows it (IMAP: folder, UIDVALIDITY and UID), so"},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Mailbox',
            name='connection',
            field=fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='credentials',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='failures',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='lease_owner',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='lease_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
