"""Self-service test helpers: a USSD caller dialling the provider's code step by step, and
incoming SMS delivered as Africa's Talking delivers them (form-encoded), through the whole stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.test import Client as Http

from tests.conftest import host_of
from tests.notifications_helpers import committed

PHONE = "+254712345678"
FORM = "application/x-www-form-urlencoded"


def post_form(path: str, fields: dict[str, str], slug: str = "alpha") -> Any:
    with committed():
        return Http(HTTP_HOST=host_of(slug)).post(path, urlencode(fields), content_type=FORM)


@dataclass
class Caller:
    """A phone dialling the code: each `press` sends every answer so far, "*"-joined, as AT does."""

    token: str
    phone: str = PHONE
    session: str = "ATUid_0a1b2c3d4e5f"
    slug: str = "alpha"
    answers: list[str] = field(default_factory=list)

    def post(self) -> Any:
        return post_form(f"/ussd/{self.token}/", {
            "sessionId": self.session, "serviceCode": "*384*2121#", "phoneNumber": self.phone,
            "networkCode": "63902", "text": "*".join(self.answers)}, self.slug)

    def screen(self) -> str:
        response = self.post()
        assert response.status_code == 200 and response["Content-Type"].startswith("text/plain"), response
        text = response.content.decode()
        assert text.startswith(("CON ", "END ")) and len(text) <= 182, (len(text), text)
        return text

    def dial(self) -> str:
        self.answers = []
        return self.screen()

    def press(self, *answers: str) -> str:
        text = ""
        for answer in answers:
            self.answers.append(answer)
            text = self.screen()
        return text


def sms_in(token: str, text: str, *, at_id: str, phone: str = PHONE, slug: str = "alpha") -> Any:
    return post_form(f"/sms/inbound/{token}/", {
        "from": phone, "to": "21212", "text": text, "date": "2026-11-23 10:15:02", "id": at_id, "linkId": ""},
        slug)
