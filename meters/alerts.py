"""Leak and spike alerts: when an accepted reading shows use well above the meter's usual, or
continuous use on a meter read daily, an episode opens and the client is told once (SMS, and
email when the account has an address) with a link to report it as a leak.

Detection works on whole batches: every way a reading is accepted (entry sheet, API, CSV import,
portal, review) ends in `leak_detect`, one statement over the meters the batch touched, which
judges each meter at its newest accepted reading (when that reading is one just accepted) and
opens, continues or closes its episode. The rules (LeakAlertSettings, per provider):

- spike: the period's use is at least `min_m3` and over `factor` × the usual use, where usual is
  the meter's last three accepted periods as a daily rate times this period's length (monthly
  periods of equal length: factor × their average). While an episode is open, usual stays what
  it was before the episode started, so a leak that goes on is not taken for the new normal.
- continuous use: the last `continuous_days` readings are each at most 36 hours after the one
  before (the meter reads daily) and each used more than `continuous_floor_m3`.

An open episode is closed automatically by the next newer accepted reading that is under both
rules, or by staff (audited). A later alert opens a new episode, which is told again.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone, translation
from django.utils.formats import date_format

from accounts.languages import chosen_or_default
from accounts.services import actor_user, audit
from majismart.links import b36, is_b36, short_mac
from majismart.tenancy import connection
from majismart.urls import domain_url
from meters.models import LeakAlertSettings, LeakEpisode
from notifications.models import Channel, NotificationSettings
from notifications.services import Outgoing, notify

EVENT = "leak_alert"
DAILY = timedelta(hours=36)  # a reading at most this long after the one before: a meter read daily
LINK_MAX_AGE = timedelta(days=30)  # the alert's "report it" link, from the episode's opening
SETTING_FIELDS = ("enabled", "factor", "min_m3", "continuous_days", "continuous_floor_m3")
MSG_ALREADY_CLOSED = "This alert is already closed."
MSG_FACTOR = "The factor must be between 1.10 and 20."
MSG_DAYS = "Continuous use is judged over 2 to 14 daily readings (0 turns it off)."
MSG_NEGATIVE = "Enter a quantity of m³ that is not negative."

_DEFAULTS = {name: getattr(LeakAlertSettings(), name) for name in SETTING_FIELDS}  # the model's defaults

# Which rows it reads: `{source}` is tmp_accepted (the batch pipeline, meters/services.py) or an
# unnest() of (meter, time) pairs (a reviewed reading).
_DETECT_SQL = """
WITH cfg AS (
    SELECT coalesce(s.enabled, %(enabled)s) AS enabled, coalesce(s.factor, %(factor)s) AS factor,
           coalesce(s.min_m3, %(min_m3)s) AS min_m3, coalesce(s.continuous_days, %(continuous_days)s) AS k,
           coalesce(s.continuous_floor_m3, %(continuous_floor_m3)s) AS floor
    FROM (SELECT 1) one LEFT JOIN meters_leakalertsettings s ON s.id = 1
), touched AS (
    SELECT a.meter_id, max(a.read_at) AS read_at FROM {source} GROUP BY a.meter_id
), latest AS (
    -- Judged at the meter's newest accepted reading, and only when that is one just accepted:
    -- a late reading of an earlier day changes nothing.
    SELECT t.meter_id, t.read_at, m.installed_on::timestamp AT TIME ZONE 'Africa/Nairobi' AS installed_at,
           e.id AS episode_id, e.started AS ep_started, e.last_read_at AS ep_last
    FROM touched t
    JOIN meters_meter m ON m.id = t.meter_id AND m.kind = 'client'
    LEFT JOIN meters_leakepisode e ON e.meter_id = t.meter_id AND e.state = 'open'
    WHERE (SELECT enabled FROM cfg)
      AND NOT EXISTS (SELECT 1 FROM meters_reading r WHERE r.meter_id = t.meter_id AND r.status = 'accepted'
                                                       AND r.read_at > t.read_at)
), measured AS (
    SELECT l.*, rc.ats, rc.cons, bs.bats, bs.bcons
    FROM latest l
    LEFT JOIN LATERAL (  -- this reading and the ones before it, newest first (k + 1 of them)
        SELECT array_agg(x.read_at ORDER BY x.read_at DESC) AS ats,
               array_agg(x.consumption ORDER BY x.read_at DESC) AS cons
        FROM (SELECT r.read_at, r.consumption FROM meters_reading r
              WHERE r.meter_id = l.meter_id AND r.status = 'accepted' AND r.read_at <= l.read_at
              ORDER BY r.read_at DESC LIMIT (SELECT greatest(k, 1) + 1 FROM cfg)) x
    ) rc ON true
    LEFT JOIN LATERAL (  -- the usual: four readings before (before an open episode started)
        SELECT array_agg(x.read_at ORDER BY x.read_at DESC) AS bats,
               array_agg(x.consumption ORDER BY x.read_at DESC) AS bcons
        FROM (SELECT r.read_at, r.consumption FROM meters_reading r
              WHERE r.meter_id = l.meter_id AND r.status = 'accepted' AND r.read_at < l.read_at
                AND (l.ep_started IS NULL OR r.read_at <= l.ep_started)
              ORDER BY r.read_at DESC LIMIT 4) x
    ) bs ON true
), judged AS (
    SELECT m.*, m.cons[1] AS use, coalesce(m.ats[2], m.installed_at) AS period_start,
           -- factor × (use of the three periods) × (this period's length) / (their length),
           -- multiplied before dividing so that whole figures stay whole; rounded to the litre.
           CASE WHEN cardinality(m.bcons) >= 3 AND m.bats[1] > coalesce(m.bats[4], m.installed_at) THEN
               round(cfg.factor * (m.bcons[1] + m.bcons[2] + m.bcons[3])
                     * extract(epoch FROM m.read_at - coalesce(m.ats[2], m.installed_at))
                     / extract(epoch FROM m.bats[1] - coalesce(m.bats[4], m.installed_at)), 3)
           END AS threshold,
           coalesce(cfg.k > 0 AND cardinality(m.ats) >= cfg.k AND (
               SELECT bool_and(m.cons[i] > cfg.floor
                               AND m.ats[i] - coalesce(m.ats[i + 1], m.installed_at) <= %(daily)s)
               FROM generate_series(1, cfg.k) i), false) AS continuous,
           cfg.k, cfg.floor, cfg.min_m3
    FROM measured m CROSS JOIN cfg
), verdict AS (
    SELECT j.meter_id, j.read_at, j.episode_id, j.ep_last, j.continuous,
           coalesce(j.use >= j.min_m3 AND j.use > j.threshold, false) AS spike,
           CASE WHEN j.continuous THEN coalesce(j.ats[j.k + 1], j.installed_at) ELSE j.period_start END AS started,
           CASE WHEN j.continuous THEN (SELECT sum(j.cons[i]) FROM generate_series(1, j.k) i) ELSE j.use END AS m3,
           CASE WHEN j.continuous THEN j.floor ELSE j.threshold END AS threshold
    FROM judged j
), opened AS (
    INSERT INTO meters_leakepisode (meter_id, rule, started, first_read_at, last_read_at, m3_since, threshold,
                                    state, closed_how, close_note, report_reference, created)
    SELECT v.meter_id, CASE WHEN v.continuous THEN 'continuous' ELSE 'spike' END, v.started, v.read_at,
           v.read_at, v.m3, v.threshold, 'open', '', '', '', %(now)s
    FROM verdict v WHERE v.episode_id IS NULL AND (v.continuous OR v.spike)
    RETURNING id
), continued AS (
    UPDATE meters_leakepisode e SET last_read_at = v.read_at, m3_since = (
        SELECT coalesce(sum(r.consumption), 0) FROM meters_reading r
        WHERE r.meter_id = e.meter_id AND r.status = 'accepted' AND r.read_at > e.started AND r.read_at <= v.read_at)
    -- state re-checked: staff may have closed it while this waited for the row (never reopened here)
    FROM verdict v WHERE e.id = v.episode_id AND e.state = 'open' AND (v.continuous OR v.spike) AND v.read_at > v.ep_last
    RETURNING e.id
), closed AS (
    UPDATE meters_leakepisode e SET state = 'closed', closed_at = %(now)s, closed_how = 'auto'
    FROM verdict v WHERE e.id = v.episode_id AND e.state = 'open' AND NOT (v.continuous OR v.spike)
                     AND v.read_at > v.ep_last
    RETURNING e.id
)
SELECT (SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM opened), (SELECT count(*) FROM continued),
       (SELECT count(*) FROM closed)
"""


def leak_detect(cursor: CursorWrapper, pairs: Sequence[tuple[int, datetime]] | None = None) -> list[int]:
    """Judge the meters of the readings just accepted (the batch's tmp_accepted, or `pairs` of
    meter id and reading time) and tell the clients of the episodes it opened. One statement,
    whatever the batch's size, and a few more only when episodes opened. Returns their ids."""
    params: dict[str, Any] = {**_DEFAULTS, "daily": DAILY, "now": timezone.now()}
    if pairs is None:
        source = "tmp_accepted a"
    else:
        if not pairs:
            return []
        source = "unnest(%(meter_ids)s::bigint[], %(times)s::timestamptz[]) AS a(meter_id, read_at)"
        params |= {"meter_ids": [p[0] for p in pairs], "times": [p[1] for p in pairs]}
    cursor.execute(_DETECT_SQL.format(source=source), params)
    opened = list(cursor.fetchone()[0])
    if opened:
        leak_alerts_notify(opened)
    return opened


# --- telling the client ------------------------------------------------------------------------
def _link_mac(pk: int, meter_id: int) -> str:
    return short_mac(f"majismart.leaklink:{connection.schema_name}", f"{pk}:{meter_id}", 9)  # 72 bits: 12 characters


def leak_link_token(episode: LeakEpisode) -> str:
    """`<episode id>-<signature>`: short, for an SMS; salted with the provider's schema, so a
    link of one provider opens nothing on another."""
    return f"{b36(episode.pk)}-{_link_mac(episode.pk, episode.meter_id)}"


def leak_link_url(episode: LeakEpisode) -> str:
    return domain_url(connection.tenant.domain, f"/leak/{leak_link_token(episode)}/")


def leak_link_episode(token: str) -> LeakEpisode | None:
    """The episode a link was made for, or None (forged, altered or older than LINK_MAX_AGE)."""
    head, _, mac = token.partition("-")  # the signature's alphabet has "-" too
    if not head or not mac or len(head) > 12 or not is_b36(head):
        return None
    episode = LeakEpisode.objects.select_related("meter__client").filter(pk=int(head, 36)).first()
    if episode is None or not hmac.compare_digest(mac, _link_mac(episode.pk, episode.meter_id)):
        return None
    if timezone.now() - episode.created > LINK_MAX_AGE:
        return None
    return episode


def _day(moment: datetime, language: str) -> str:
    with translation.override(language):  # the client's, as the message's words
        return date_format(timezone.localtime(moment).date(), "j M Y")


def alert_values(episode: LeakEpisode) -> dict[str, str]:
    client = episode.meter.client
    assert client is not None  # detection judges client meters only
    return {"name": client.full_name, "account": client.account_number, "meter": episode.meter.serial,
            "volume": f"{episode.m3_since:.3f}", "since": _day(episode.started, chosen_or_default(client.language)), "link": leak_link_url(episode)}


def leak_alerts_notify(episode_ids: Sequence[int]) -> int:
    """One SMS (and email, when the account has an address) per episode: the dedup key is the
    episode, so telling twice sends nothing more. Consent and quiet hours as for every service
    message (notifications.notify). A few statements for any number of episodes."""
    episodes = list(LeakEpisode.objects.filter(pk__in=episode_ids).select_related("meter__client"))
    cfg = NotificationSettings.load()
    made = 0
    for channel, address in ((Channel.SMS, "phone"), (Channel.EMAIL, "email")):
        outgoing = []
        for episode in episodes:
            client = episode.meter.client
            recipient = getattr(client, address) or ""
            if channel == Channel.EMAIL and not recipient:
                continue  # email only to those with an address; SMS is logged as skipped without a phone
            outgoing.append(Outgoing(key=f"episode:{episode.pk}", recipient=recipient,
                                     values=alert_values(episode), client_id=client.pk if client else None))
        made += len(notify(event=EVENT, channel=channel, cfg=cfg, outgoing=outgoing))
    return made


# --- staff -------------------------------------------------------------------------------------
@transaction.atomic
def leak_episode_close(*, episode: LeakEpisode, actor: object, note: str = "") -> LeakEpisode:
    """Staff close an open alert (checked, a false alarm, fixed); audited. The next reading
    over the threshold opens a new episode, told again."""
    # Lock: a reading batch closing it automatically, or a second click, must not close it twice.
    episode = LeakEpisode.objects.select_for_update(of=("self",)).select_related("meter__client").get(pk=episode.pk)
    if episode.state != LeakEpisode.State.OPEN:
        raise ValidationError({"detail": [MSG_ALREADY_CLOSED]})
    episode.state, episode.closed_how = LeakEpisode.State.CLOSED, LeakEpisode.ClosedHow.STAFF
    episode.closed_at, episode.closed_by, episode.close_note = timezone.now(), actor_user(actor), note.strip()[:300]
    episode.save(update_fields=["state", "closed_how", "closed_at", "closed_by", "close_note"])
    client = episode.meter.client
    audit(actor=actor, action="leak_alert.closed", object_repr=f"{episode.meter.serial} since {_day(episode.started, 'en')}",
          target=("client", client.pk) if client else None, episode=episode.pk, m3_since=str(episode.m3_since))
    return episode


@transaction.atomic
def leak_settings_update(*, actor: object, **values: Any) -> LeakAlertSettings:
    """The provider's leak alert rules; readings judged from now on use them."""
    cfg = LeakAlertSettings.objects.select_for_update().get(pk=LeakAlertSettings.load().pk)
    before = {name: getattr(cfg, name) for name in SETTING_FIELDS}
    for name, value in values.items():
        if name not in SETTING_FIELDS:
            raise ValueError(name)
        setattr(cfg, name, value)
    errors: dict[str, list[str]] = {}
    if not Decimal("1.10") <= Decimal(cfg.factor) <= Decimal("20"):
        errors["factor"] = [MSG_FACTOR]
    if cfg.continuous_days != 0 and not 2 <= cfg.continuous_days <= 14:
        errors["continuous_days"] = [MSG_DAYS]
    for name in ("min_m3", "continuous_floor_m3"):
        if Decimal(getattr(cfg, name)) < 0:
            errors[name] = [MSG_NEGATIVE]
    if errors:
        raise ValidationError(errors)
    cfg.full_clean()
    cfg.save()
    changed = {n: [str(before[n]), str(getattr(cfg, n))] for n in SETTING_FIELDS if before[n] != getattr(cfg, n)}
    if changed:
        audit(actor=actor, action="leak_alert.settings_changed", object_repr="leak alert settings", changed=changed)
    return cfg


# --- the client's report (fieldwork makes the service request) ----------------------------------
def leak_episode_locked(pk: int) -> LeakEpisode:
    """The episode, locked until the transaction ends (inside atomic)."""
    return LeakEpisode.objects.select_for_update(of=("self",)).select_related("meter__client").get(pk=pk)


def leak_episode_reported(*, episode: LeakEpisode, reference: str) -> LeakEpisode:
    """Remember the service request the client's report made (once: the caller holds the lock)."""
    episode.reported_at, episode.report_reference = timezone.now(), reference
    episode.save(update_fields=["reported_at", "report_reference"])
    return episode


# --- reads -------------------------------------------------------------------------------------
def clients_with_open_alerts() -> Any:
    """The ids of clients with an open alert, as a subquery."""
    return LeakEpisode.objects.filter(state=LeakEpisode.State.OPEN).values("meter__client_id")


def open_episodes(client_id: int) -> list[LeakEpisode]:
    return list(LeakEpisode.objects.filter(meter__client_id=client_id, state=LeakEpisode.State.OPEN)
                .select_related("meter").order_by("-started"))


def recent_episodes(client_id: int, limit: int = 10) -> list[LeakEpisode]:
    return list(LeakEpisode.objects.filter(meter__client_id=client_id).select_related("meter", "closed_by")
                .order_by("-created", "-id")[:limit])
