"""Relationship intelligence: each member's interactions with each contact, the connections
they add up to, and the figures kept on people and companies."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from mailroom.models.intelligence import Exchange
from mailroom.models.records import InteractionKind
from tortoise.fields.base import OnDelete
from uuid_utils.compat import uuid7
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0012_caldav')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Connection',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('company', fields.ForeignKeyField('models.Company', source_field='company_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('score', fields.FloatField(default=0.0)),
                ('interactions', fields.IntField(default=0)),
            ],
            options={'table': 'connection', 'app': 'models', 'unique_together': (('member', 'person'), ('member', 'company')), 'indexes': [Index(fields=['person_id', 'score']), Index(fields=['company_id', 'score'])], 'pk_attr': 'id', 'table_description': "A member's connection with a person or a company: the sum of the counted interactions'"},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Company',
            name='first_interaction_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Company',
            name='first_meeting_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Company',
            name='last_interaction_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Company',
            name='last_meeting_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Company',
            name='strength',
            field=fields.FloatField(default=0.0, db_default=0.0),
        ),
        ops.AddField(
            model_name='Company',
            name='strongest_member',
            field=fields.ForeignKeyField('models.Member', source_field='strongest_member_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='Company',
            index=Index(fields=['workspace_id', 'last_interaction_at']),
        ),
        ops.AddIndex(
            model_name='Company',
            index=Index(fields=['workspace_id', 'strength']),
        ),
        # Interactions were a person's; they are now each member's, with any contact address,
        # person or not. The rows cannot be carried over (they name no member): the table is
        # made anew, and `mailroom intelligence rebuild SLUG` fills it from the mail and
        # meetings that are stored (README.md, "Relationship intelligence").
        ops.DeleteModel(name='Interaction'),
        ops.CreateModel(
            name='Interaction',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('address', fields.CharField(max_length=320)),
                ('domain', fields.CharField(default='', max_length=255)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('company', fields.ForeignKeyField('models.Company', source_field='company_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='EMAIL: EMAIL\nMEETING: MEETING', enum_type=InteractionKind, max_length=16)),
                ('exchange', fields.CharEnumField(description='SENT: SENT\nANSWERED: ANSWERED\nRECEIVED: RECEIVED\nCOPIED: COPIED\nMET: MET', enum_type=Exchange, max_length=16)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('value', fields.FloatField()),
                ('counted', fields.BooleanField()),
                ('link', fields.CharField(null=True, max_length=32)),
            ],
            options={'table': 'interaction', 'app': 'models', 'unique_together': (('message', 'member', 'address', 'exchange'), ('event', 'member', 'address', 'exchange')), 'indexes': [Index(fields=['person_id', 'kind', 'counted', 'occurred_at']), Index(fields=['company_id', 'kind', 'counted', 'occurred_at']), Index(fields=['workspace_id', 'link']), Index(fields=['workspace_id', 'address']), Index(fields=['workspace_id', 'domain']), Index(fields=['counted', 'occurred_at'])], 'pk_attr': 'id', 'table_description': "A member's interaction with a contact address in a message or a meeting."},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Person',
            name='first_interaction_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Person',
            name='first_meeting_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Person',
            name='last_interaction_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Person',
            name='last_meeting_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Person',
            name='strength',
            field=fields.FloatField(default=0.0, db_default=0.0),
        ),
        ops.AddField(
            model_name='Person',
            name='strongest_member',
            field=fields.ForeignKeyField('models.Member', source_field='strongest_member_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='Person',
            index=Index(fields=['workspace_id', 'last_interaction_at']),
        ),
        ops.AddIndex(
            model_name='Person',
            index=Index(fields=['workspace_id', 'strength']),
        ),
    ]
