"""What a new password must be: long enough, not blank, not common, not the e-mail address.

Length counts Unicode code points of the NFKC form with surrounding whitespace stripped, so
"ｐａｓｓ" (full-width) and "pass" are the same length and "abc" padded with spaces is still
three characters; the password itself is stored (hashed) exactly as typed. The common list is
``common_passwords.txt`` beside this module (its header names the source and licence); it is
compared case-insensitively, after the same normalisation.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

from maas.core.auth import MIN_PASSWORD_LENGTH
from maas.core.errors import FieldError, InvalidInput

MIN_DISTINCT_CHARACTERS = 4
MIN_LOCAL_PART = 3  # shorter e-mail local parts ("a@…") would forbid too many passwords


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lowercase), read once per process."""
    text = resources.files("maas.accounts").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines()
                     if line and line != "#" and not line.startswith("# "))


def password_problems(password: str, email: str) -> list[str]:
    """Why ``password`` is not acceptable for the account ``email``; empty when it is."""
    plain = unicodedata.normalize("NFKC", password).strip()
    if not plain:
        return ["must not be blank or only spaces"]
    if len(plain) < MIN_PASSWORD_LENGTH:
        return [f"at least {MIN_PASSWORD_LENGTH} characters (not counting spaces around it)"]
    folded = plain.lower()
    problems = []
    if folded in common_passwords():
        problems.append("is one of the most common passwords; choose another")
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        problems.append(f"use at least {MIN_DISTINCT_CHARACTERS} different characters")
    address = email.strip().lower()
    local = address.partition("@")[0]
    if folded == address or (len(local) >= MIN_LOCAL_PART and local in folded):
        problems.append("must not contain your e-mail address")
    return problems


def check_new_password(password: str, email: str) -> None:
    """:class:`InvalidInput` (422 naming ``password``) unless the password is acceptable."""
    problems = password_problems(password, email)
    if problems:
        raise InvalidInput("password: " + "; ".join(problems),
                           errors=[FieldError("password", problem) for problem in problems])
