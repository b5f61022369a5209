"""Weak WEAPON, MIL_PLATFORM and VEHICLE spans from a curated lexicon with context rules.

Only re3d (a few hundred sentences) and our written news mark weapons and platforms
exhaustively, so the model sees few of them. This lexicon finds them in any text, to be
used as weak, non-exhaustive labels once their precision is known: measure it first on
annotated text the rules were not written from (`python -m training.corpus.weapon_lexicon`
prints precision and recall per label on re3d's ConfliBERT dev split and our written
train split).

A match is the longest run of lexicon words: optional modifiers ("ballistic", "cruise",
"anti-tank", a model name such as "Iskander" or "F-16") followed by a head noun
("missile", "drone", "rifle"). Context rules drop uses that are not weapons: a head noun
used as a verb ("rocketed", "shelled", "bombed"), figurative phrases ("price war",
"bombshell"), and heads inside event words ("bombing", "shelling").
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from serving.schema import EntityType

if TYPE_CHECKING:
    from training.corpus.record import Record

# Head nouns, singular and plural, by label. Where a word can be either (a drone can be a
# toy), the label is what it means in conflict news.
HEADS: dict[str, tuple[str, ...]] = {
    "WEAPON": (
        "rifle", "rifles", "gun", "guns", "pistol", "pistols", "handgun", "handguns",
        "machine gun", "machine guns", "machinegun", "shotgun", "shotguns", "carbine",
        "ak-47", "ak-47s", "kalashnikov", "kalashnikovs", "m-16", "m16", "m-16s",
        "bomb", "bombs", "car bomb", "car bombs", "truck bomb", "truck bombs", "ied", "ieds",
        "improvised explosive device", "improvised explosive devices", "explosive",
        "explosives", "dynamite", "grenade", "grenades", "landmine", "landmines", "mine",
        "mines", "suicide vest", "suicide vests", "suicide belt", "rocket", "rockets", "rpg",
        "rpgs", "missile", "missiles", "mortar", "mortars", "mortar rounds", "mortar shells",
        "shell", "shells", "artillery", "howitzer", "howitzers", "munitions", "ammunition",
        "bullets", "rounds", "cluster munitions", "barrel bomb", "barrel bombs", "machete",
        "machetes", "knife", "knives", "tear gas", "rubber bullets", "chlorine", "sarin",
        "nerve agent", "mustard gas", "katyusha", "katyushas", "warhead", "warheads",
        "vbied", "vbieds", "chemical weapons", "homemade bombs",
    ),
    "MIL_PLATFORM": (
        "drone", "drones", "uav", "uavs", "unmanned aerial vehicle", "fighter jet",
        "fighter jets", "jets", "warplane", "warplanes", "aircraft", "bomber", "bombers",
        "helicopter", "helicopters", "gunship", "gunships", "tank", "tanks",
        "armoured vehicle", "armoured vehicles", "armored vehicle", "armored vehicles",
        "armoured personnel carrier", "armoured personnel carriers", "apc", "apcs",
        "warship", "warships", "frigate", "frigates", "destroyer", "destroyers",
        "submarine", "submarines", "gunboat", "gunboats", "aircraft carrier",
    ),
    "VEHICLE": (
        "car", "cars", "truck", "trucks", "lorry", "lorries", "bus", "buses", "minibus",
        "pickup", "pickups", "pick-up", "motorcycle", "motorcycles", "motorbike",
        "motorbikes", "van", "vans", "taxi", "ambulance", "ambulances", "tanker", "tankers",
        "boat", "boats", "vessel", "vessels",
    ),
}  # fmt: skip
# Words that may come before a head and belong to the name ("ballistic missile").
MODIFIERS = (
    "ballistic", "cruise", "anti-tank", "anti-aircraft", "anti-ship", "surface-to-air",
    "air-to-surface", "guided", "hypersonic", "rocket-propelled", "assault", "automatic",
    "sniper", "heavy", "light", "attack", "armed", "military", "kamikaze", "suicide",
    "roadside", "homemade", "artillery", "tank", "stinger", "javelin", "iskander", "kalibr",
    "kh-101", "shahed", "shahed-136", "bayraktar", "tb2", "reaper", "mq-9", "predator",
    "f-16", "f-35", "su-25", "su-34", "mig-29", "apache", "black hawk", "grad", "himars",
    "atacms", "storm shadow", "tomahawk", "scud", "qassam", "fateh-110", "hellfire",
    "patriot", "s-300", "s-400", "t-72", "t-90", "abrams", "leopard", "bradley",
)  # fmt: skip
# Phrases that contain a head but are not weapons.
NOT_WEAPONS = (
    "price war", "bombshell", "rocket science", "mine worker", "gold mine", "coal mine",
    "mines ministry", "shell company", "royal dutch shell", "tank top", "think tank",
    "think tanks", "water tank", "fuel tank", "oil tanker", "gun control", "shot to fame",
    "aircraft maker", "car maker", "car makers", "bus stop", "bus station",
    "suicide bomber", "suicide bombers", "bomber who", "bombers who",
)  # fmt: skip


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    label: str


def _alternation(words: Iterable[str]) -> str:
    # "rocket-propelled" also as tokenised text writes it, "rocket - propelled".
    escaped = (re.escape(w).replace(r"\-", r"\s*-\s*") for w in words)
    return "|".join(sorted(escaped, key=len, reverse=True))


_HEAD_LABEL = {w: label for label, words in HEADS.items() for w in words}
_PATTERN = re.compile(
    rf"(?<![\w-])(?:(?:{_alternation(MODIFIERS)})[\s-]+)*"
    rf"(?P<head>{_alternation(_HEAD_LABEL)})(?![\w-])",
    re.IGNORECASE,
)
_NOT = re.compile(rf"(?<!\w)(?:{_alternation(NOT_WEAPONS)})(?!\w)", re.IGNORECASE)
# A head followed by these is a compound noun naming something else ("car park",
# "mine action", "tank commander" is still military but not the platform).
_NEXT_NOT = re.compile(r"\s+(?:park|parks|stop|driver|drivers|maker|makers|factory|"
                       r"industry|sales|attack|attacks|strike|strikes|fire|shop|dealer)\b",
                       re.IGNORECASE)  # fmt: skip


def find(text: str) -> list[Found]:
    """Weak weapon, platform and vehicle spans in `text`, in order, never overlapping."""
    blocked = [(m.start(), m.end()) for m in _NOT.finditer(text)]
    out = []
    for m in _PATTERN.finditer(text):
        if any(a < m.end() and m.start() < b for a, b in blocked):
            continue
        if _NEXT_NOT.match(text, m.end()):
            continue
        head = re.sub(r"\s*-\s*", "-", m.group("head").lower())
        out.append(Found(m.start(), m.end(), _HEAD_LABEL[head]))
    return out


def measure(records: Iterable[object]) -> dict[str, dict[str, float]]:
    """Precision and recall per label against records whose entity layer covers it:
    exact spans, and overlapping spans (any shared character, same label)."""
    from training.corpus.record import LabelSet, Record

    counts: dict[str, dict[str, int]] = {}
    for r in records:
        assert isinstance(r, Record)
        cov = r.coverage(LabelSet.ENTITIES)
        if cov is None:
            continue
        for label in HEADS:
            if label not in cov.labels:
                continue
            c = counts.setdefault(label, {"gold": 0, "found": 0, "exact": 0, "overlap": 0,
                                          "gold_hit": 0})  # fmt: skip
            gold = [(s.start, s.end) for s in r.spans if s.entity and s.entity.value == label]
            found = [(f.start, f.end) for f in find(r.text) if f.label == label]
            c["gold"] += len(gold)
            c["found"] += len(found)
            c["exact"] += len(set(gold) & set(found))
            c["overlap"] += sum(any(a < d and c0 < b for c0, d in gold) for a, b in found)
            c["gold_hit"] += sum(any(a < d and c0 < b for c0, d in found) for a, b in gold)
    out = {}
    for label, c in counts.items():
        out[label] = {
            "gold": c["gold"], "found": c["found"],
            "precision_exact": c["exact"] / max(1, c["found"]),
            "recall_exact": c["exact"] / max(1, c["gold"]),
            "precision_overlap": c["overlap"] / max(1, c["found"]),
            "recall_overlap": c["gold_hit"] / max(1, c["gold"]),
        }  # fmt: skip
    return out


def main() -> None:
    from training.corpus.build import convert_all
    from training.corpus.convert_written import files, load
    from training.corpus.sources import data_dir

    sets = {
        "re3d_conflibert dev": [
            r for r in convert_all(data_dir(), only=["re3d_conflibert"]).records
            if r.split.value == "dev"
        ],
        "written train": [r for p in files() for r in load(p) if r.split.value == "train"],
    }  # fmt: skip
    print("| text | label | gold | found | P exact | R exact | P overlap | R overlap |")
    print("|---|---|---|---|---|---|---|---|")
    for name, records in sets.items():
        for label, m in measure(records).items():
            print(
                f"| {name} | {label} | {m['gold']} | {m['found']} | "
                f"{100 * m['precision_exact']:.1f} | {100 * m['recall_exact']:.1f} | "
                f"{100 * m['precision_overlap']:.1f} | {100 * m['recall_overlap']:.1f} |"
            )


if __name__ == "__main__":
    main()
    sys.exit(0)


def with_weapons(record: Record) -> Record:
    """`record` with the lexicon's spans as weak entity labels, where its dataset marks
    no entities at all: a non-exhaustive layer of WEAPON, MIL_PLATFORM and VEHICLE, so
    the loss learns what the lexicon finds and is not told that the rest is O."""
    from training.corpus.record import Coverage, LabelSet, Span

    if record.coverage(LabelSet.ENTITIES) is not None:
        return record
    found = find(record.text)
    if not found:
        return record
    spans = [Span(start=f.start, end=f.end, entity=EntityType(f.label)) for f in found]
    cover = Coverage(label_set=LabelSet.ENTITIES, labels=list(HEADS), exhaustive=False)
    return record.model_copy(
        update={"spans": [*record.spans, *spans], "annotated": [*record.annotated, cover]}
    )
