"""Vietnamese phone numbers, validated with Google's libphonenumber port."""

from __future__ import annotations

import phonenumbers


def parse_vn_phone(text: str) -> str | None:
    """Return the number in E.164 if it is a valid Vietnamese number, else None."""
    candidate = text.strip()
    if not candidate or len(candidate) > 32 or not any(ch.isdigit() for ch in candidate):
        return None
    try:
        number = phonenumbers.parse(candidate, "VN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
