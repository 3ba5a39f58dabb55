"""Calendars: events, the calendars holding them, their attendees, each calendar's cursor, and
meetings as interactions."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from mailroom.envelope import AttendeeKind, EventStatus, Response
from tortoise.fields.base import OnDelete
from uuid_utils.compat import uuid7
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0010_reconciliation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CalendarCursor',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('calendar', fields.CharField(max_length=255)),
                ('state', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('generation', fields.IntField(default=0)),
                ('synced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'calendar_cursor', 'app': 'models', 'unique_together': (('mailbox', 'calendar'),), 'pk_attr': 'id', 'table_description': "How far one calendar of a mailbox is synced: the provider's position (a Google sync"},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=64)),
                ('uid', fields.TextField(unique=False)),
                ('recurrence_id', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('utc_offset', fields.SmallIntField(default=0)),
                ('end_utc_offset', fields.SmallIntField(default=0)),
                ('all_day', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=EventStatus.CONFIRMED, description='CONFIRMED: CONFIRMED\nTENTATIVE: TENTATIVE\nCANCELLED: CANCELLED', enum_type=EventStatus, max_length=16)),
                ('summary', fields.TextField(null=True, unique=False)),
                ('location', fields.TextField(null=True, unique=False)),
                ('description', fields.TextField(null=True, unique=False)),
                ('conference', fields.TextField(null=True, unique=False)),
                ('organizer', fields.CharField(null=True, max_length=320)),
                ('organizer_name', fields.TextField(null=True, unique=False)),
                ('attendee_count', fields.IntField(default=0)),
                ('sequence', fields.IntField(default=0)),
                ('updated', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('defects', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'event', 'app': 'models', 'unique_together': (('workspace', 'key'),), 'indexes': [Index(fields=['workspace_id', 'starts_at'])], 'pk_attr': 'id', 'table_description': 'One occurrence of a meeting per workspace, however many calendars hold it.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='EventAttendee',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_index=True, db_constraint=True, to_field='id', related_name='attendees', on_delete=OnDelete.CASCADE)),
                ('position', fields.SmallIntField(default=0)),
                ('address', fields.CharField(max_length=320)),
                ('domain', fields.CharField(default='', max_length=255)),
                ('name', fields.TextField(null=True, unique=False)),
                ('response', fields.CharEnumField(default=Response.NEEDS_ACTION, description='NEEDS_ACTION: NEEDS_ACTION\nACCEPTED: ACCEPTED\nTENTATIVE: TENTATIVE\nDECLINED: DECLINED', enum_type=Response, max_length=16)),
                ('kind', fields.CharEnumField(default=AttendeeKind.PERSON, description='PERSON: PERSON\nROOM: ROOM\nRESOURCE: RESOURCE\nGROUP: GROUP', enum_type=AttendeeKind, max_length=16)),
                ('organizer', fields.BooleanField(default=False)),
                ('optional', fields.BooleanField(default=False)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'event_attendee', 'app': 'models', 'indexes': [Index(fields=['workspace_id', 'address', 'starts_at']), Index(fields=['person_id', 'starts_at', 'event_id']), Index(fields=['workspace_id', 'domain', 'starts_at', 'event_id'])], 'pk_attr': 'id', 'table_description': "An attendee (or the organizer) of an event, and its person once the address is one's."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='EventCopy',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid7, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_index=True, db_constraint=True, to_field='id', related_name='copies', on_delete=OnDelete.CASCADE)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('calendar', fields.CharField(max_length=255)),
                ('item', fields.CharField(max_length=600)),
                ('response', fields.CharEnumField(null=True, description='NEEDS_ACTION: NEEDS_ACTION\nACCEPTED: ACCEPTED\nTENTATIVE: TENTATIVE\nDECLINED: DECLINED', enum_type=Response, max_length=16)),
                ('generation', fields.IntField(default=0)),
            ],
            options={'table': 'event_copy', 'app': 'models', 'unique_together': (('mailbox', 'calendar', 'item'),), 'indexes': [Index(fields=['mailbox_id', 'event_id'])], 'pk_attr': 'id', 'table_description': "A calendar's item holding an event: which mailbox, which of its calendars, and the"},
            bases=['Entity'],
        ),
        ops.AlterModelOptions(
            name='Interaction',
            options={'table': 'interaction', 'app': 'models', 'unique_together': (('person', 'message'), ('person', 'event')), 'indexes': [Index(fields=['workspace_id', 'occurred_at']), Index(fields=['person_id', 'occurred_at'])], 'pk_attr': 'id', 'table_description': 'A person took part in a message or a meeting. Which members were involved is read from'},
        ),
        ops.AddField(
            model_name='Interaction',
            name='event',
            field=fields.ForeignKeyField('models.Event', source_field='event_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
        ops.AddConstraint(
            model_name='Interaction',
            constraint=UniqueConstraint(fields=('person', 'event'), name=None),
        ),
    ]
