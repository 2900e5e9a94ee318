from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from majismart.celery import PERIODIC_TASKS


class Command(BaseCommand):
    help = "Write the periodic jobs declared in majismart/celery.py to the beat schedule."

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        names = []
        for name, spec in PERIODIC_TASKS.items():
            schedule, _ = CrontabSchedule.objects.get_or_create(
                timezone="Africa/Nairobi", **{k: str(v) for k, v in spec["crontab"].items()}
            )
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={"task": spec["task"], "crontab": schedule, "args": json.dumps(spec.get("args", [])),
                          "enabled": True},
            )
            names.append(name)
        stale = PeriodicTask.objects.exclude(name__in=names).exclude(name__startswith="celery.")
        stale.delete()
        self.stdout.write(f"{len(names)} periodic task(s) scheduled.")
