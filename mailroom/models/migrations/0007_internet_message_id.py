"""The Message-ID header is `internet_message_id`: beside the foreign keys named `*_id`, its
name said it was one."""

from tortoise import migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0006_content_keys')]

    initial = False

    operations = [
        ops.RenameField(
            model_name='Message',
            old_name='message_id',
            new_name='internet_message_id',
        ),
    ]
