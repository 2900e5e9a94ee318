"""Africa's Talking USSD: one screen per step of the caller's dial.

AT posts every step of a session with the same `sessionId` and all the answers so far in `text`
("1*2*700"). The screen stack is kept on the session row, so each answer is applied once (the
side effects of a step — a pay prompt, a reading, a report, an SMS — happen once), `0` goes
back a screen, `00` home, and a retry of the same step gets the same answer. Screens are
CON (more to come) or END (done), at most 182 characters, in the caller's language.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clients.models import Client
from majismart.crypto import blind_index
from majismart.money import kes
from meters.models import Meter, Reading
from payments.collect import default_amount, whole_amount
from payments.models import PaymentSettings
from selfservice import services, texts
from selfservice.models import UssdSession
from selfservice.selectors import (
    active_meters,
    balance,
    clients_of_phone,
    contact_for,
    language_of,
    last_bill,
    masked,
    phone_e164,
    provider_language,
    provider_name,
)

log = logging.getLogger(__name__)

MAX_SCREEN = 182  # characters AT shows on a USSD screen
MAX_CHOICES = 8  # accounts or meters listed on one screen
BACK, HOME = "0", "00"


def _fit(kind: str, body: str) -> str:
    """`CON `/`END ` and the body, cut to the screen's 182 characters."""
    room = MAX_SCREEN - len(kind) - 1
    if len(body) > room:
        body = body[:room - 3].rstrip() + "..."
    return f"{kind} {body}"


class Machine:
    """The menu of one session: a stack of screens, the account chosen, the answer to show."""

    def __init__(self, session: UssdSession, clients: list[Client], phone: str) -> None:
        self.session, self.clients, self.phone = session, clients, phone
        self.stack: list[dict[str, Any]] = list(session.state.get("stack") or [])
        self.error = ""
        self.ended = ""
        self.restarted = False
        if session.client_id is not None and all(c.pk != session.client_id for c in clients):
            # The account chosen is no longer this phone's (edited meanwhile): the first screen
            # again, the answer typed for the old one dropped.
            self.stack, session.client_id, self.restarted = [], None, True
        if not self.stack:
            self.stack = [{"s": "menu"}] if len(clients) == 1 else [{"s": "accounts"}]
            if len(clients) == 1:
                session.client_id = clients[0].pk

    # -- what the caller sees --------------------------------------------------------------
    @property
    def client(self) -> Client | None:
        return next((c for c in self.clients if c.pk == self.session.client_id), None)

    @property
    def lang(self) -> str:
        client = self.client
        return language_of([client]) if client is not None else language_of(self.clients)

    def t(self, key: str, **values: object) -> str:
        return texts.text(self.lang, key, **values)

    def render(self) -> str:
        if self.ended:
            return _fit("END", self.ended)
        body = self._body(self.stack[-1])
        if len(self.stack) > 1:
            body = f"{body}\n{self.t('footer')}"
        if self.error:  # the error gives way first, so the menu and its footer stay whole
            room = MAX_SCREEN - len("CON ") - len(body) - 1
            error = self.error if len(self.error) <= room else self.error[:max(room - 3, 0)].rstrip() + "..."
            body = f"{error}\n{body}"
        return _fit("CON", body)

    def _body(self, screen: dict[str, Any]) -> str:
        name, client = screen["s"], self.client
        if name == "accounts":
            lines = [f"{i}. {c.account_number}" for i, c in enumerate(self.clients[:MAX_CHOICES], 1)]
            return "\n".join([self.t("choose_account"), *lines])
        assert client is not None  # every other screen is about the chosen account
        if name == "menu":
            return self.t("menu", provider=provider_name(), account=client.account_number)
        if name == "balance":
            return services.balance_text(self.lang, client)
        if name == "bill":
            bill = last_bill(client)
            if bill is None:
                return self.t("no_bill", account=client.account_number)
            due = texts.day(self.lang, bill.due_date) if bill.due_date else "-"
            return "\n".join([self.t("bill", period=texts.period(self.lang, bill.period), amount=kes(bill.total),
                                     due=due, amount_due=kes(max(balance(client), 0))), self.t("bill_sms_sent")])
        if name == "pay":
            owed = default_amount(client)
            return self.t("pay_menu", amount=kes(owed)) if owed > 0 else self.t("pay_menu_settled")
        if name == "pay_amount":
            return self.t("pay_amount")
        if name == "meters":
            meters = active_meters([client])[:MAX_CHOICES]
            return "\n".join([self.t("choose_meter"), *(f"{i}. {m.serial}" for i, m in enumerate(meters, 1))])
        if name == "reading":
            return self.t("reading_prompt", meter=screen["serial"])
        if name == "problem":
            return self.t("problem_menu")
        if name == "language":
            return self.t("language_menu")
        return self.t(screen.get("k", "invalid"), account=client.account_number)  # "msg": a fixed line

    # -- applying one answer ---------------------------------------------------------------
    def apply(self, answer: str) -> None:
        if self.ended or self.restarted:
            return
        answer = answer.strip()
        self.error = ""
        if answer == HOME:
            home = next((i for i, s in enumerate(self.stack) if s["s"] == "menu"), 0)
            del self.stack[home + 1:]
            return
        if answer == BACK:
            if len(self.stack) > 1:
                self.stack.pop()
            return
        handler = getattr(self, f"_on_{self.stack[-1]['s']}", None)
        if handler is None or handler(answer) is False:
            self.error = self.error or self.t("invalid")

    def _choice(self, answer: str, count: int) -> int | None:
        return int(answer) - 1 if answer.isdigit() and 1 <= int(answer) <= count else None

    def _push(self, name: str, **params: object) -> None:
        self.stack.append({"s": name, **params})

    def _on_accounts(self, answer: str) -> bool:
        i = self._choice(answer, min(len(self.clients), MAX_CHOICES))
        if i is None:
            return False
        self.session.client_id = self.clients[i].pk
        self._push("menu")
        return True

    def _on_menu(self, answer: str) -> bool:
        client = self.client
        assert client is not None
        if answer == "1":
            self._push("balance")
        elif answer == "2":
            self._bill_sms(client)
            self._push("bill")
        elif answer == "3":
            self._push("pay")
        elif answer == "4":
            meters = active_meters([client])
            if not meters:
                self._push("msg", k="no_meter")
            elif len(meters) == 1:
                self._push("reading", meter=meters[0].pk, serial=meters[0].serial)
            else:
                self._push("meters")
        elif answer == "5":
            self._push("problem")
        elif answer == "6":
            self._push("language")
        else:
            return False
        return True

    def _bill_sms(self, client: Client) -> None:
        if last_bill(client) is None:
            return
        body = self.t("sms_bill", provider=provider_name(), lines=services.bill_sms_line(self.lang, client))
        services.reply_sms(key=f"ussd:{self.session.session_id}:bill:{client.pk}", phone=self.phone,
                           client_id=client.pk, body=body)

    def _on_pay(self, answer: str) -> bool:
        client = self.client
        assert client is not None
        owed = default_amount(client)
        if answer == "1" and owed > 0:
            self._pay(client, owed)
        elif answer == "2" or (answer == "1" and owed <= 0):
            self._push("pay_amount")
        else:
            return False
        return True

    def _on_pay_amount(self, answer: str) -> bool:
        client = self.client
        assert client is not None
        try:
            amount = whole_amount(answer.replace(",", ""))
        except ValidationError:
            self.error = self.t("pay_bad_amount")
            return False
        self._pay(client, amount)
        return True

    def _pay(self, client: Client, amount: int) -> None:
        if not PaymentSettings.load().mpesa_ready:
            self.ended = self.t("pay_off")
            return
        services.pay_queue(client=client, phone=self.phone, amount=amount, lang=self.lang)
        self.ended = self.t("pay_sent", amount=kes(amount), account=client.account_number)

    def _on_meters(self, answer: str) -> bool:
        client = self.client
        assert client is not None
        meters = active_meters([client])[:MAX_CHOICES]
        i = self._choice(answer, len(meters))
        if i is None:
            return False
        self._push("reading", meter=meters[i].pk, serial=meters[i].serial)
        return True

    def _on_reading(self, answer: str) -> bool:
        value = services.reading_value(answer)
        if value is None:
            self.error = self.t("reading_bad")
            return False
        meter = Meter.objects.get(pk=self.stack[-1]["meter"])
        refused = services.reading_submit(meter=meter, value=value, source=Reading.Source.USSD, lang=self.lang)
        if refused:
            self.error = self.t("reading_refused", reason=refused)
            return False
        self.ended = self.t("reading_done", value=value, meter=meter.serial)
        return True

    def _on_problem(self, answer: str) -> bool:
        client = self.client
        assert client is not None
        i = self._choice(answer, len(services.PROBLEM_KINDS))
        if i is None:
            return False
        request = services.problem_report(client=client, kind=services.PROBLEM_KINDS[i],
                                          actor=services.ACTOR_USSD)
        self.ended = self.t("problem_done", reference=request.reference,
                            due=texts.day(self.lang, timezone.localtime(request.due_by).date()))
        return True

    def _on_language(self, answer: str) -> bool:
        client = self.client
        assert client is not None
        i = self._choice(answer, len(texts.LANGS))
        if i is None:
            return False
        services.language_set(client=client, lang=texts.LANGS[i], actor=services.ACTOR_USSD)
        client.language = texts.LANGS[i]
        self.ended = self.t("language_done")
        return True


def ussd_answer(*, session_id: str, phone: str, text: str) -> str:
    """The screen for this step of the session (`text`: every answer so far, "*"-joined)."""
    e164 = phone_e164(phone)
    index = blind_index(e164 or phone.strip() or "-")
    if not services.step_allowed("ussd", index):
        log.warning("USSD %s from %s: rate limited", session_id[:12], masked(e164))
        lang = language_of(clients_of_phone(e164))
        return _fit("END", texts.text(lang, "limited"))
    with transaction.atomic():
        # Locked: AT may post the same step again while the first is still being answered;
        # the step must be applied (and its prompt, reading or report made) once.
        session, created = UssdSession.objects.select_for_update().get_or_create(
            session_id=session_id[:100], defaults={"phone_index": index})
        if session.phone_index != index:  # a session id is one phone's: never another's menu
            log.warning("USSD %s: a different phone for this session", session_id[:12])
            return _fit("END", texts.text(provider_language(), "invalid"))
        if not created and text == session.last_text and session.last_reply:
            log.info("USSD %s from %s: step %d repeated", session_id[:12], masked(e164), session.steps)
            return session.last_reply
        reply = _step(session, e164, text)
    return reply


def _step(session: UssdSession, e164: str, text: str) -> str:
    clients = clients_of_phone(e164)
    answers = text.split("*") if text else []
    if not clients:
        reply = _fit("END", texts.text(provider_language(), "unknown_phone", provider=provider_name(),
                                       contact=contact_for(provider_language())))
        screen = "unknown"
    else:
        continues = session.last_text == "" or text.startswith(session.last_text + "*")
        if not continues or session.ended:  # not the answers we know: start the menu again
            session.state, session.consumed, session.client_id, session.ended = {}, 0, None, False
        machine = Machine(session, clients, e164)
        for answer in answers[session.consumed:]:
            machine.apply(answer)
        reply = machine.render()
        session.state = {"stack": machine.stack}
        session.ended = bool(machine.ended)
        screen = "end" if machine.ended else machine.stack[-1]["s"]
    session.consumed, session.last_text, session.last_reply = len(answers), text, reply
    session.steps += 1
    session.save()
    log.info("USSD %s from %s: step %d, %s", session.session_id[:12], masked(e164), session.steps, screen)
    return reply
