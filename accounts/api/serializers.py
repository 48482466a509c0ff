"""Output shapes for the caller and background jobs."""

from rest_framework import serializers

from accounts.models import Job
from ecomsight.api.fields import ChoiceField


class JobOutputSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True, help_text="progress_done / progress_total, 0 to 1.")

    class Meta:
        model = Job
        fields = ["id", "kind", "status", "progress", "progress_done", "progress_total", "message", "error",
                  "params", "result", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class JobFilterSerializer(serializers.Serializer):
    kind = ChoiceField(choices=Job.Kind.choices, required=False)
    status = ChoiceField(choices=Job.Status.choices, required=False)


class MeOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    shop = serializers.CharField(help_text="The slug of the shop the call acts within.")
    token = serializers.DictField(allow_null=True, help_text="The token used (name, prefix, expiry), or null.")
