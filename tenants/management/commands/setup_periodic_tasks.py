from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from majismart.celery import PERIODIC_TASKS
from majismart.queues import queue_name


def _schedule(spec: dict[str, Any]) -> dict[str, Any]:
    """The beat schedule row of an entry: `every` N seconds, or a `crontab` in Nairobi time."""
    if "every" in spec:
        interval, _ = IntervalSchedule.objects.get_or_create(every=int(spec["every"]), period=IntervalSchedule.SECONDS)
        return {"interval": interval, "crontab": None}
    crontab, _ = CrontabSchedule.objects.get_or_create(
        timezone="Africa/Nairobi", **{k: str(v) for k, v in spec["crontab"].items()})
    return {"crontab": crontab, "interval": None}


class Command(BaseCommand):
    help = "Write the periodic jobs declared in majismart/celery.py to the beat schedule."

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        names = []
        for name, spec in PERIODIC_TASKS.items():
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={"task": spec["task"], "args": json.dumps(spec.get("args", [])), "enabled": True,
                          # `queue_group`: sent to that group's queue (a heartbeat per queue), not routed.
                          "queue": queue_name(spec["queue_group"]) if "queue_group" in spec else None,
                          **_schedule(spec)},
            )
            names.append(name)
        stale = PeriodicTask.objects.exclude(name__in=names).exclude(name__startswith="celery.")
        stale.delete()
        self.stdout.write(f"{len(names)} periodic task(s) scheduled.")
