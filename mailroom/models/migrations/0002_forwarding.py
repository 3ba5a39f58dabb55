from tortoise import migrations
from tortoise.migrations import operations as ops
from mailroom.models.workspace import SenderPolicy
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Member',
            name='forwarding_token',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Workspace',
            name='sender_policy',
            field=fields.CharEnumField(default=SenderPolicy.VERIFIED, description='VERIFIED: VERIFIED\nADDRESS_ONLY: ADDRESS_ONLY', enum_type=SenderPolicy, max_length=16),
        ),
    ]
