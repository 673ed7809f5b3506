"""Free text -> attributes, and the one rule that merges them with explicit attributes.

The rule (the Composer service, the bridge and the CLI all go through it): every explicit attribute
wins over the text; the text fills the attributes left unset; instruments add up — the explicit ones
first, then those the text names that are not among them ("-i bass" with "a jig for fiddle" is fiddle
and bass, as a musician means it).
"""

from __future__ import annotations

from dataclasses import fields

from ostinato.errors import LimitExceeded
from server.settings import Limits
from symbolic.attributes import Attributes
from symbolic.text import ParsedText, parse_text


def read_text(text: str, limits: Limits) -> ParsedText:
    """Parses a request's free text (LimitExceeded beyond limits.max_text_chars)."""
    if len(text) > limits.max_text_chars:
        raise LimitExceeded("text", len(text), limits.max_text_chars, "characters")
    return parse_text(text, max_bars=limits.max_bars)


def merge_attributes(explicit: Attributes, from_text: Attributes) -> Attributes:
    """Explicit fields win, text fills the rest; instruments are the explicit ones plus the text's others."""
    merged = Attributes()
    for field in fields(Attributes):
        if field.name == "extra":
            continue
        value = getattr(explicit, field.name)
        setattr(merged, field.name, value if value is not None else getattr(from_text, field.name))
    if explicit.instruments and from_text.instruments:
        merged.instruments = list(explicit.instruments) + [
            program for program in from_text.instruments if program not in explicit.instruments]
    return merged


def with_text(explicit: Attributes, text: str, limits: Limits) -> Attributes:
    """The attributes a request asks for: its explicit ones merged with its text's (when it has text)."""
    if not text:
        return explicit
    return merge_attributes(explicit, read_text(text, limits).attributes)
