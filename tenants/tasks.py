"""Provider tasks of the platform's own doings: the notice of a new policy version."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def policy_notice_task(version_id: int) -> int:
    """In one provider's schema (sent by fan_out): email its active users about a newly
    published policy version. Once per user and version (the message's dedup key)."""
    from tenants.notices import policy_notices

    return policy_notices(version_id)
