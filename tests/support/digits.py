"""Hypothesis strategies for numbers written with digits that are not ASCII.

``str.isdigit`` takes ``"²"`` and ``int()`` does not; ``int()`` and ``float()`` take
Arabic-Indic and full-width digits, which no client means as a number. Every numeric
parameter of the servers must refuse them all with a 400, never answer 500, never take them.
"""

from __future__ import annotations

from hypothesis import strategies as st

_SAMPLES = "²³¹⁰①⑩٠١٢٣٤٥٦٧٨٩۰۱۲०१२০১੦௧๑໑༡၁០᠑０１２３４５６７８９𝟎𝟏𝟘ⅠⅡ½"

NON_ASCII_DIGITS = st.sampled_from(_SAMPLES) | st.characters(
    categories=["Nd", "No", "Nl"], exclude_characters="0123456789"
)
"""One character that some Python call takes for a digit, and that is not 0-9."""


@st.composite
def with_non_ascii_digits(draw: st.DrawFn, value: str) -> str:
    """``value`` (which must hold an ASCII digit) with one or more of its digits replaced."""
    positions = [i for i, c in enumerate(value) if c.isascii() and c.isdigit()]
    assert positions, f"{value!r} has no digit to replace"
    chosen = draw(st.lists(st.sampled_from(positions), min_size=1, unique=True))
    characters = list(value)
    for i in chosen:
        characters[i] = draw(NON_ASCII_DIGITS)
    return "".join(characters)


def numeric_text() -> st.SearchStrategy[str]:
    """Digit strings in which at least one digit is not ASCII: ``"1\u00b2"``, ``"\u0661\u0662"``."""
    ascii_digits = st.text(alphabet="0123456789", max_size=4)
    return st.tuples(ascii_digits, NON_ASCII_DIGITS, ascii_digits).map("".join)
