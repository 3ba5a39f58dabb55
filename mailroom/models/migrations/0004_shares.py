from tortoise import migrations
from tortoise.migrations import operations as ops
from mailroom.models.mailbox import Sharing
from tortoise.fields.base import OnDelete
from uuid_utils.compat import uuid7
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_imap')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ThreadShare',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('thread', fields.ForeignKeyField('models.Thread', source_field='thread_id', db_index=True, db_constraint=True, to_field='id', related_name='shares', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('level', fields.CharEnumField(description='METADATA: METADATA\nSUBJECT: SUBJECT\nFULL: FULL', enum_type=Sharing, max_length=16)),
                ('shared_by', fields.ForeignKeyField('models.Member', source_field='shared_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'thread_share', 'app': 'models', 'unique_together': (('thread', 'member'),), 'pk_attr': 'id', 'table_description': "A thread shared beyond its mailboxes' default sharing: with the whole workspace (no"},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Participant',
            name='domain',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.AddIndex(
            model_name='Participant',
            index=Index(fields=['workspace_id', 'domain']),
        ),
    ]
