"""What the ledger and bills store in English is said in the reader's language: every wording our
code writes (majismart.stored_words), and nothing else."""

from __future__ import annotations

import pytest
from django.utils import translation

from majismart.stored_words import said


@pytest.mark.parametrize(("stored", "kiswahili"), [
    ("Water bill December 2025", "Bili ya maji Disemba 2025"),
    ("Water 0–6 m³", "Maji m³ 0–6"),
    ("Water above 20 m³", "Maji zaidi ya m³ 20"),
    ("Sewerage 50% of water charge", "Maji taka 50% ya malipo ya maji"),
    ("Fixed charge", "Ada ya kudumu"),
    ("Meter rent", "Kodi ya mita"),
    ("Late-payment penalty", "Adhabu ya kuchelewa kulipa"),
    ("M-Pesa payment", "Malipo ya M-Pesa"),
    ("Cash payment (STK request ws_CO_1)", "Malipo ya Pesa taslimu (STK request ws_CO_1)"),
    ("Reconnection fee", "Reconnection fee"),  # a provider's own fee name: as it is
    ("Water billing adjustment agreed with Mr Otieno", "Water billing adjustment agreed with Mr Otieno"),
])
def test_our_wordings_are_said_in_kiswahili_and_others_left_alone(stored: str, kiswahili: str) -> None:
    with translation.override("sw"):
        assert said(stored) == kiswahili
    with translation.override("en"):
        assert said(stored) == stored
