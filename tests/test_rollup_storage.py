"""How roll-up components are stored (core/store/cells.py) and updated (the batch writer):
adding a delta to the stored text gives byte for byte what decoding, adding and encoding again
gives, so a roll-up row's text never depends on which path wrote it."""

from __future__ import annotations

from decimal import Decimal

from attain.core.store.cells import add_components, dumps_components, loads_components
from hypothesis import given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from(["won", "amount", "won_amount", "lost", "open_amount", "cycle_days", "x"])
VALUES = st.one_of(
    st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), allow_nan=False,
                allow_infinity=False, places=2),
    st.integers(min_value=-5, max_value=5).map(Decimal),
    st.sampled_from([Decimal("0"), Decimal("0.00"), Decimal("1E+2"), Decimal("-1E+2"),
                     Decimal("1.50"), Decimal("-1.5"), Decimal("123456789012345.678901")]),
)
COMPONENTS = st.dictionaries(KEYS, VALUES, max_size=7)


def reference(text: str, delta: dict[str, Decimal]) -> str:
    """Decode, add every component, encode: what the writer did before."""
    acc = loads_components(text)
    for k, v in delta.items():
        acc[k] = acc.get(k, Decimal(0)) + v
    return dumps_components(acc)


@settings(max_examples=400, deadline=None)
@given(COMPONENTS, st.lists(COMPONENTS, min_size=1, max_size=4))
def test_adding_to_the_stored_text_equals_decoding_adding_encoding(
        first: dict[str, Decimal], deltas: list[dict[str, Decimal]]) -> None:
    text = want = dumps_components(first)
    for delta in deltas:
        text, want = add_components(text, delta), reference(want, delta)
        assert text == want
    # and the values are the exact sums
    total: dict[str, Decimal] = {}
    for d in [first, *deltas]:
        for k, v in d.items():
            total[k] = total.get(k, Decimal(0)) + v
    assert loads_components(text) == {k: v for k, v in total.items() if v != 0}


def test_a_component_that_cancels_out_is_dropped() -> None:
    text = dumps_components({"won": Decimal("2"), "amount": Decimal("10.50")})
    assert add_components(text, {"won": Decimal("-2"), "lost": Decimal("1")}) == \
        '{"amount": "10.50", "lost": "1"}'
    assert add_components('{"won": "1"}', {"won": Decimal("-1")}) == "{}"
