"""Each mailbox keeps its last reconciliation (what the provider holds against what is stored)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_oauth_states')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Mailbox',
            name='reconciliation',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
