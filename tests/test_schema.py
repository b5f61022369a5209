from serving import schema
from serving.schema import COARSE_OF, CoarseType, EntityType, EventType, Role


def test_public_label_order_is_fixed() -> None:
    # These lists are the public API and fix model output ids: changing them is a
    # breaking change that needs a schema version bump.
    assert [e.value for e in EntityType] == [
        "PER", "ORG", "NORP", "LOC", "DATE", "QUANTITY", "MONEY", "DOC_REF", "WEAPON",
        "MIL_PLATFORM", "VEHICLE",
    ]  # fmt: skip
    assert [r.value for r in Role] == [
        "PERP_IND", "PERP_ORG", "VICTIM", "PHYS_TARGET", "INSTRUMENT", "SOURCE_ACTOR",
        "TARGET_ACTOR", "RECIPROCAL_ACTOR",
    ]  # fmt: skip
    assert [e.value for e in EventType][:3] == ["ARMED_ATTACK", "ARMED_CLASH", "BOMBING"]
    assert len(EventType) == 18


def test_bio_tags_are_derived_from_the_enums() -> None:
    assert schema.ENTITY_TAGS[:3] == ["O", "B-PER", "I-PER"]
    assert len(schema.ENTITY_TAGS) == 1 + 2 * len(EntityType)
    assert len(schema.ROLE_TAGS) == 1 + 2 * len(Role)
    assert schema.ENTITY_TAG_IDS["I-VEHICLE"] == len(schema.ENTITY_TAGS) - 1


def test_every_event_type_has_a_coarse_type() -> None:
    assert set(COARSE_OF) == set(EventType)
    assert CoarseType.NON_CONFLICT not in COARSE_OF.values()


def test_coarse_types_of_a_text() -> None:
    assert schema.coarse_types(set()) == [CoarseType.NON_CONFLICT]
    assert schema.coarse_types({EventType.ARREST, EventType.BOMBING}) == [
        CoarseType.VIOLENCE,
        CoarseType.STATE_COERCION,
    ]


def test_label_lists_hold_every_set() -> None:
    lists = schema.label_lists()
    assert lists["cameo_penta"] == [
        "NEUTRAL", "VERBAL_COOPERATION", "MATERIAL_COOPERATION", "VERBAL_CONFLICT",
        "MATERIAL_CONFLICT",
    ]  # fmt: skip
    assert lists["satp"] == ["ARMED_ASSAULT", "BOMBING", "KIDNAPPING", "OTHER_VIOLENCE"]
    assert lists["ipe"] == ["KILL", "ARREST", "ANY_ACTION", "FAIL", "FORCE"]
    assert len(lists["insightcrime"]) == 7
    assert lists["entity_tags"] == schema.ENTITY_TAGS
