"""CalDAV mailboxes (calendars only): a new provider. The column stores the name as text, so only
the field's description changes; no table is altered."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from mailroom.choices import Provider
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0011_calendars')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Mailbox',
            name='provider',
            field=fields.CharEnumField(description='IMPORT: IMPORT\nFORWARDING: FORWARDING\nIMAP: IMAP\nGMAIL: GMAIL\nMICROSOFT: MICROSOFT\nCALDAV: CALDAV', enum_type=Provider, max_length=16),
        ),
        ops.AlterField(
            model_name='OAuthState',
            name='provider',
            field=fields.CharEnumField(description='IMPORT: IMPORT\nFORWARDING: FORWARDING\nIMAP: IMAP\nGMAIL: GMAIL\nMICROSOFT: MICROSOFT\nCALDAV: CALDAV', enum_type=Provider, max_length=16),
        ),
    ]
