"""The fixed texts of USSD screens and SMS replies, in English and Kiswahili.

Kept here, in Python, rather than in Django's message catalogues: a USSD screen has 182
characters and an SMS 160, so each language's wording is written (and tested) to fit. Values
are filled with str.format; `text(lang, key, **values)` falls back to English for a language
it does not know.
"""

from __future__ import annotations

from datetime import date

from django.utils import translation

from payments import notices

ENGLISH, KISWAHILI = "en", "sw"
LANGS = (ENGLISH, KISWAHILI)

TEXTS: dict[str, dict[str, str]] = {
    ENGLISH: {
        "menu": "{provider} {account}\n1. Balance\n2. Last bill\n3. Pay\n4. Submit a reading\n"
                "5. Report a problem\n6. Language",
        "footer": "0 Back 00 Home",
        "invalid": "Invalid choice.",
        "choose_account": "Choose an account:",
        "unknown_phone": "Sorry, this phone number is not registered with {provider}. "
                         "Please contact us{contact} to link it to your account.",
        "limited": "Too many requests from this phone. Please try again in a few minutes.",
        "balance_owing": "Account {account}: you owe {balance}.",
        "balance_credit": "Account {account}: nothing to pay, credit {balance}.",
        "balance_zero": "Account {account}: nothing to pay.",
        "bill": "Bill {period}: {amount}, due {due}. Total due now {amount_due}.",
        "bill_sms_sent": "We sent you the pay link by SMS.",
        "no_bill": "Account {account} has no bill yet.",
        "pay_menu": "Pay by M-Pesa from this phone:\n1. Balance {amount}\n2. Another amount",
        "pay_menu_settled": "Pay by M-Pesa from this phone:\n1. Enter an amount",
        "pay_amount": "Enter the amount in KES (whole shillings):",
        "pay_bad_amount": "Enter a whole number of shillings from 1 to 250,000.",
        "pay_sent": "An M-Pesa prompt to pay {amount} for {account} is coming to this phone: enter your "
                    "M-Pesa PIN.",
        "sms_pay_failed": "{provider}: M-Pesa could not send the payment request: {reason}",
        "pay_off": "M-Pesa payments are not set up yet. Please pay at our office.",
        "no_meter": "No meter is registered on account {account}.",
        "choose_meter": "Choose the meter:",
        "reading_prompt": "Enter the reading of meter {meter} (m3, e.g. 1234.5):",
        "reading_bad": "Enter the number on the meter, e.g. 1234.5.",
        "reading_refused": "Not accepted: {reason}",
        "reading_done": "Thank you. Reading {value} of meter {meter} received; our staff will check it.",
        "problem_menu": "Report a problem:\n1. Leak\n2. No water\n3. Billing question\n4. Meter fault",
        "problem_done": "Thank you. Your report {reference} is received; we aim to deal with it by {due}.",
        "problem_description": "Reported by USSD from the account's phone.",
        "language_menu": "Choose your language:\n1. English\n2. Kiswahili",
        "language_done": "Your language is now English.",
        # SMS replies
        "sms_help": "{provider}: send BAL for your balance, BILL for your last bill, READ 1234.5 to send "
                    "a meter reading, STOP to stop announcements.",
        "sms_balance": "{provider}: {lines}",
        "sms_bill": "{provider}: {lines}",
        "sms_bill_line": "{account} bill {period} {amount} due {due}; due now {amount_due}. Pay: {pay_link}",
        "sms_no_bill": "{account} has no bill yet.",
        "sms_read_done": "{provider}: thank you, reading {value} of meter {meter} received; our staff will "
                         "check it.",
        "sms_read_refused": "{provider}: reading {value} of meter {meter} not accepted: {reason}",
        "sms_read_which": "{provider}: you have several meters. Send READ <meter> <reading>, e.g. "
                          "READ {meter} 1234.5.",
        "sms_read_bad": "{provider}: send READ and the number on the meter, e.g. READ 1234.5.",
        "sms_read_unknown_meter": "{provider}: meter {meter} is not on your account. Your meters: {meters}.",
        "sms_no_meter": "{provider}: no meter is registered on your account.",
        "sms_stop": "{provider}: you will get no more announcements. Messages about your account and "
                    "water supply still come.",
        "sms_unknown_phone": "{provider}: this phone number is not registered with us. Please contact "
                             "us{contact} to link it to your account.",
    },
    KISWAHILI: {
        "menu": "{provider} {account}\n1. Salio\n2. Bili ya mwisho\n3. Lipa\n4. Tuma usomaji wa mita\n"
                "5. Ripoti tatizo\n6. Lugha",
        "footer": "0 Rudi 00 Mwanzo",
        "invalid": "Chaguo si sahihi.",
        "choose_account": "Chagua akaunti:",
        "unknown_phone": "Samahani, nambari hii ya simu haijasajiliwa na {provider}. "
                         "Tafadhali wasiliana nasi{contact} ili iunganishwe na akaunti yako.",
        "limited": "Maombi mengi mno kutoka simu hii. Tafadhali jaribu tena baada ya dakika chache.",
        "balance_owing": "Akaunti {account}: unadaiwa {balance}.",
        "balance_credit": "Akaunti {account}: hakuna cha kulipa, una akiba ya {balance}.",
        "balance_zero": "Akaunti {account}: hakuna cha kulipa.",
        "bill": "Bili ya {period}: {amount}, mwisho {due}. Jumla unayodaiwa sasa {amount_due}.",
        "bill_sms_sent": "Tumekutumia kiungo cha kulipa kwa SMS.",
        "no_bill": "Akaunti {account} bado haina bili.",
        "pay_menu": "Lipa kwa M-Pesa kutoka simu hii:\n1. Salio {amount}\n2. Kiasi kingine",
        "pay_menu_settled": "Lipa kwa M-Pesa kutoka simu hii:\n1. Weka kiasi",
        "pay_amount": "Weka kiasi kwa KES (shilingi kamili):",
        "pay_bad_amount": "Weka shilingi kamili kuanzia 1 hadi 250,000.",
        "pay_sent": "Ombi la M-Pesa la kulipa {amount} kwa {account} linakuja kwenye simu hii: weka PIN "
                    "yako ya M-Pesa.",
        "sms_pay_failed": "{provider}: M-Pesa haikuweza kutuma ombi la malipo: {reason}",
        "pay_off": "Malipo ya M-Pesa bado hayajawekwa. Tafadhali lipa ofisini kwetu.",
        "no_meter": "Hakuna mita iliyosajiliwa kwenye akaunti {account}.",
        "choose_meter": "Chagua mita:",
        "reading_prompt": "Weka usomaji wa mita {meter} (m3, mfano 1234.5):",
        "reading_bad": "Weka nambari iliyo kwenye mita, mfano 1234.5.",
        "reading_refused": "Haukukubaliwa: {reason}",
        "reading_done": "Asante. Usomaji {value} wa mita {meter} umepokelewa; wafanyakazi wetu "
                        "watauhakiki.",
        "problem_menu": "Ripoti tatizo:\n1. Uvujaji wa maji\n2. Hakuna maji\n3. Swali la bili\n"
                        "4. Hitilafu ya mita",
        "problem_done": "Asante. Ripoti yako {reference} imepokelewa; tunalenga kuishughulikia kufikia "
                        "{due}.",
        "problem_description": "Imeripotiwa kwa USSD kutoka simu ya akaunti.",
        "language_menu": "Chagua lugha:\n1. English\n2. Kiswahili",
        "language_done": "Lugha yako sasa ni Kiswahili.",
        "sms_help": "{provider}: tuma SALIO kupata salio, BILI kupata bili ya mwisho, SOMA 1234.5 kutuma "
                    "usomaji wa mita, STOP kusitisha matangazo.",
        "sms_balance": "{provider}: {lines}",
        "sms_bill": "{provider}: {lines}",
        "sms_bill_line": "{account} bili ya {period} {amount} mwisho {due}; unadaiwa sasa {amount_due}. "
                         "Lipa: {pay_link}",
        "sms_no_bill": "{account} bado haina bili.",
        "sms_read_done": "{provider}: asante, usomaji {value} wa mita {meter} umepokelewa; wafanyakazi "
                         "wetu watauhakiki.",
        "sms_read_refused": "{provider}: usomaji {value} wa mita {meter} haukukubaliwa: {reason}",
        "sms_read_which": "{provider}: una mita zaidi ya moja. Tuma SOMA <mita> <usomaji>, mfano "
                          "SOMA {meter} 1234.5.",
        "sms_read_bad": "{provider}: tuma SOMA na nambari iliyo kwenye mita, mfano SOMA 1234.5.",
        "sms_read_unknown_meter": "{provider}: mita {meter} haiko kwenye akaunti yako. Mita zako: {meters}.",
        "sms_no_meter": "{provider}: hakuna mita iliyosajiliwa kwenye akaunti yako.",
        "sms_stop": "{provider}: hutapokea matangazo tena. Ujumbe kuhusu akaunti yako na huduma ya maji "
                    "utaendelea kuja.",
        "sms_unknown_phone": "{provider}: nambari hii ya simu haijasajiliwa nasi. Tafadhali wasiliana "
                             "nasi{contact} ili iunganishwe na akaunti yako.",
    },
}

def lang_of(value: str) -> str:
    return value if value in TEXTS else ENGLISH


def text(lang: str, key: str, **values: object) -> str:
    return TEXTS[lang_of(lang)][key].format(**values)


def day(lang: str, d: date) -> str:
    """16 Nov 2026 in `lang`, as the bills and every other message write a date (3 Dis 2026)."""
    with translation.override(lang_of(lang)):
        return notices.day(d)


def period(lang: str, value: str) -> str:
    """"2026-10" as "Oct 2026" / "Okt 2026", as bill messages write it; anything else as it is."""
    try:
        with translation.override(lang_of(lang)):
            return notices.period_label(value)
    except ValueError:
        return value
