"""The weapon and platform lexicon: longest names, context rules, offsets."""

import pytest

from training.corpus.weapon_lexicon import find


def spans(text: str) -> list[tuple[str, str]]:
    return [(text[f.start : f.end], f.label) for f in find(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia fired Iskander ballistic missiles and Shahed drones at Kharkiv.",
         [("Iskander ballistic missiles", "WEAPON"), ("Shahed drones", "MIL_PLATFORM")]),
        ("Gunmen on motorcycles fired rocket - propelled grenades.",
         [("motorcycles", "VEHICLE"), ("rocket - propelled grenades", "WEAPON")]),
        ("Turkish F-16 jets struck PKK positions.", [("F-16 jets", "MIL_PLATFORM")]),
        ("A car bomb exploded near the bus station.", [("car bomb", "WEAPON")]),
        ("A price war and a bombshell report hit the think tank.", []),
        ("Prices rocketed and the army shelled nothing; the bombing was condemned.", []),
        ("They left the car park in a truck.", [("truck", "VEHICLE")]),
    ],
)  # fmt: skip
def test_find(text: str, expected: list[tuple[str, str]]) -> None:
    assert spans(text) == expected
