"""Every guard of the identity matcher, pinned with a table.

The guards are what the probabilistic linkers lack: a household shares surname, ZIP,
often a parent's inbox and phone, so its members earn the weights of one person. Each
row is a pair the weights alone would call close (checked: the same pair with the
guard's trigger removed, or the row's ``weights_alone`` column) and the code that
stops it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from idp.policies.matching import (
    DECISIVE,
    DEFAULT_RULES,
    GUARDS,
    Demographics,
    compare,
    comparison_levels,
    match_weight,
    normalise,
)

from .hard_cases import HOLDOUT_SEED, generate_hard

OLIVIA = Demographics(
    "Olivia", "Brennan", date(1988, 4, 12), "02139", "F", "brennans@example.com", "6175550123"
)


def _with(**changes: object) -> Demographics:
    return replace(OLIVIA, **changes)


GUARD_TABLE = [
    # (id, a, b, guard code)
    ("twins_other_names", OLIVIA, _with(first_name="Grace"), "first_name_conflict"),
    ("twins_alike_names", _with(first_name="Kristen"), _with(first_name="Kirsten"),
     "possible_twin"),
    ("twins_alike_first_letter", _with(first_name="Ava"), _with(first_name="Eva"),
     "possible_twin"),
    ("twins_opposite_sexes", _with(first_name="Erin", gender=None),
     _with(first_name="Aaron", gender=None), "possible_twin"),
    ("twins_opposite_sexes_newer_names", _with(first_name="Liam", gender=None),
     _with(first_name="Leah", gender=None), "possible_twin"),
    ("twins_newer_names_a_letter_apart", _with(first_name="Caden", gender="M"),
     _with(first_name="Camden", gender="M"), "possible_twin"),
    # The same pair with one sex unrecorded: Omar and Oma may be boy/girl twins.
    ("twins_name_of_the_other_sex_one_sex_unrecorded", _with(first_name="Omar", gender="M"),
     _with(first_name="Oma", gender=None), "possible_twin"),
    ("twins_gendered_ending", _with(first_name="Daniel", gender=None),
     _with(first_name="Daniela", gender=None), "possible_twin"),
    ("twins_arabic_names", _with(first_name="Hasan", gender="M"),
     _with(first_name="Husain", gender="M"), "possible_twin"),
    ("twins_arabic_vowel_no_romanisation_swaps", _with(first_name="Hamid", gender="M"),
     _with(first_name="Hamad", gender="M"), "possible_twin"),
    ("twins_sound_alike", _with(first_name="Michael", gender="M"),
     _with(first_name="Mitchell", gender="M"), "possible_twin"),
    ("adult_twins_own_contacts", _with(first_name="William", gender="M"),
     _with(first_name="Bill", gender="M", email="bill@example.org", phone="6175550999"),
     "possible_twin"),
    ("siblings_alike_names", _with(first_name="Jaden", gender="M", dob=date(2010, 1, 15)),
     _with(first_name="Jayden", gender="M", dob=date(2010, 10, 15)), "possible_sibling"),
    ("siblings_other_names", OLIVIA, _with(first_name="Sophie", dob=date(1990, 6, 1)),
     "first_name_conflict"),
    # Was without any email or phone (none on both records): since issue 13's recall
    # work a DOB typo is the likelier reading there (PASSING_TABLE); a disagreeing phone,
    # a suffix, or contact details on one record only still say parent and child.
    ("parent_child_year_transposed", _with(dob=date(1985, 4, 12), email=None),
     _with(dob=date(1958, 4, 12), email=None, phone="6175550999"), "possible_parent_child"),
    ("parent_child_contact_on_one_record_only", _with(dob=date(1985, 4, 12), phone=None),
     _with(dob=date(1958, 4, 12), email=None, phone=None), "possible_parent_child"),
    ("parent_child_year_transposed_no_contact_suffix",
     _with(last_name="Brennan Jr", dob=date(1985, 4, 12), email=None, phone=None),
     _with(dob=date(1958, 4, 12), email=None, phone=None), "possible_parent_child"),
    ("parent_child_decade_digit", _with(email="olivia@example.com"),
     _with(dob=date(1958, 4, 12), email="mum@example.com"), "possible_parent_child"),
    ("parent_child_suffixes", _with(last_name="Brennan Jr"),
     _with(last_name="Brennan Sr"), "suffix_conflict"),
    ("parent_child_one_suffix_year_digit", _with(last_name="Brennan Jr"),
     _with(dob=date(1958, 4, 12)), "possible_parent_child"),
    # Was without any email or phone; now with a disagreeing email (see above).
    ("parent_child_fifty_years_apart", _with(dob=date(1980, 4, 12), phone=None),
     _with(dob=date(1930, 4, 12), email="dad@example.org", phone=None), "possible_parent_child"),
    ("twins_slip_one_name_common", _with(first_name="Kristen", gender="F"),
     _with(first_name="Kirsten", gender="F"), "possible_twin"),
    ("twins_slip_frequency_unknown", _with(first_name="Keiran", gender="M"),
     _with(first_name="Kieran", gender="M"), "possible_twin"),
    ("twins_slip_one_name_common_sexes_unrecorded", _with(first_name="Kristen", gender=None),
     _with(first_name="Kirsten", gender=None, email=None, phone=None), "possible_twin"),
    # Two rare names one edit apart that is no keyboard slip (Eliza/Elia), or a slip of
    # the first letter (rhyming names: Gena/Tena), are names parents choose for twins.
    ("twins_rare_names_one_edit_not_a_slip", _with(first_name="Eliza", email=None, phone=None),
     _with(first_name="Elia", email=None, phone=None), "possible_twin"),
    ("twins_rare_rhyming_names", _with(first_name="Gena", email=None, phone=None),
     _with(first_name="Tena", email=None, phone=None), "possible_twin"),
    ("twins_one_edit_one_name_common", _with(first_name="Ava", gender="F"),
     _with(first_name="Eva", gender="F"), "possible_twin"),
    ("twins_one_edit_both_rare_sexes_differ", _with(first_name="Eli", gender=None),
     _with(first_name="Ela", gender=None), "possible_twin"),
    ("siblings_slip_one_name_common", _with(first_name="Kristen", dob=date(1990, 6, 1)),
     _with(first_name="Kirsten", dob=date(1991, 6, 1)), "possible_sibling"),
    # Siblings are at least SIBLING_MIN_DAYS apart: ten months (a month digit) still are.
    ("siblings_alike_names_ten_months_apart",
     _with(first_name="Jaden", gender="M", dob=date(2010, 1, 15)),
     _with(first_name="Jayden", gender="M", dob=date(2010, 11, 15)), "possible_sibling"),
    # Twins born either side of midnight: DOBs a day apart are twins, not siblings.
    ("twins_either_side_of_midnight", _with(first_name="Kristen", dob=date(1988, 4, 12)),
     _with(first_name="Kirsten", dob=date(1988, 4, 13)), "possible_twin"),
    # Three-letter names two edits apart (one letter left) need an agreeing email or phone.
    ("short_first_name_two_edits_no_contact", _with(first_name="Wei", email=None, phone=None),
     _with(first_name="Iw", email=None, phone=None), "short_name_unconfirmed"),
    ("short_surname_two_edits_other_contacts", _with(last_name="Lee"),
     _with(last_name="Jle", email="jle@example.org", phone="6175550999"),
     "short_name_unconfirmed"),
    # ... and two real names two edits apart stay two names: Amy and Ava, Wei and Li.
    ("short_names_both_known", _with(first_name="Amy"), _with(first_name="Ava"),
     "first_name_conflict"),
    ("spouses", OLIVIA, _with(first_name="Patrick", gender="M", dob=date(1986, 2, 3)),
     "gender_conflict"),
    ("spouses_same_sex", OLIVIA, _with(first_name="Hannah", dob=date(1987, 9, 9)),
     "first_name_conflict"),
    ("sexes_differ", _with(first_name="Francis", gender="F"),
     _with(first_name="Frances", gender="M"), "gender_conflict"),
    ("other_surname_without_contact", _with(email=None, phone=None),
     _with(last_name="Okafor", email=None, phone=None), "last_name_conflict"),
    ("initial_only", _with(first_name="O."), OLIVIA, "first_name_initial_only"),
    ("no_names_at_all", _with(first_name=".", last_name="-"), _with(first_name=".", last_name="-"),
     "names_missing"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "code"), [pytest.param(a, b, c, id=i) for i, a, b, c in GUARD_TABLE]
)
def test_guard_turns_the_pair_to_none(a: Demographics, b: Demographics, code: str) -> None:
    assert code in DECISIVE | GUARDS
    for x, y in ((a, b), (b, a)):
        result = compare(x, y)
        assert result.kind == "none", result
        assert code in result.reasons, result


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(a, b, id=i)
        for i, a, b, c in GUARD_TABLE
        if c in GUARDS or c in ("first_name_conflict", "suffix_conflict")
    ],
)
def test_the_weights_alone_would_have_linked_them(a: Demographics, b: Demographics) -> None:
    """Why the guards exist: these household pairs clear the learned threshold."""
    na, nb = normalise(a), normalise(b)
    bits = match_weight(na, nb, comparison_levels(na, nb), DEFAULT_RULES.model)
    assert bits >= DEFAULT_RULES.threshold, bits


PASSING_TABLE = [
    # (id, a, b, reason that must be present) -- the same shapes without the trigger
    ("nickname_shared_contact", _with(first_name="Margaret"), _with(first_name="Peggy"),
     "first_name_nickname"),
    ("slip_not_a_name", _with(first_name="Olivia"), _with(first_name="Oliiva"),
     "first_name_typo"),
    ("misspelling_rarer_than_the_name", _with(first_name="Christopher", gender="M"),
     _with(first_name="Cristopher", gender="M"), "first_name_typo"),
    ("transliteration", _with(first_name="Natalia"), _with(first_name="Natalya"),
     "first_name_one_edit"),
    ("transliteration_of_two_census_names", _with(first_name="Tatiana"),
     _with(first_name="Tatyana"), "first_name_one_edit"),
    ("surname_transliterated", _with(last_name="Kowalczyk"), _with(last_name="Kovalchik"),
     "last_name_phonetic"),
    ("surname_wade_giles_and_pinyin", _with(last_name="Hsu"), _with(last_name="Xu"),
     "last_name_phonetic"),
    ("arabic_short_vowels", _with(first_name="Ahmed", gender="M"),
     _with(first_name="Ahmad", gender="M"), "first_name_one_edit"),
    ("arabic_short_vowels_and_shadda", _with(first_name="Mohamed", gender=None),
     _with(first_name="Mohammad", gender=None), "first_name_two_edits_alike"),
    ("final_h_written_or_not", _with(first_name="Hannah"), _with(first_name="Hanna"),
     "first_name_one_edit"),
    ("ending_that_keeps_the_sex", _with(first_name="Helen"), _with(first_name="Helena"),
     "first_name_one_edit"),
    ("doubled_letter_of_two_census_names", _with(first_name="Phillip", gender="M"),
     _with(first_name="Philip", gender="M"), "first_name_typo"),
    ("nickname_census_gives_the_other_sex", _with(first_name="Paul", gender="M"),
     _with(first_name="Polly", gender="M"), "first_name_nickname"),
    ("first_letter_lost_a_name_remains", _with(first_name="Laura"), _with(first_name="Aura"),
     "first_name_one_edit"),
    ("last_letter_lost_not_a_name", _with(first_name="Rebecca"), _with(first_name="Rebecc"),
     "first_name_one_edit"),
    ("married_phone_only", OLIVIA, _with(last_name="Okafor", email="o.okafor@example.org"),
     "last_name_changed"),
    ("married_email_only", OLIVIA, _with(last_name="Okafor", phone=None, zip="10001"),
     "last_name_changed"),
    ("year_transposed_with_contact", _with(dob=date(1985, 4, 12)), _with(dob=date(1958, 4, 12)),
     "dob_year_transposed"),
    ("one_digit_day", OLIVIA, _with(dob=date(1988, 4, 13), email=None), "dob_one_digit"),
    ("moved_same_phone", OLIVIA, _with(zip="94110", email=None), "zip_differs"),
    # A keyboard slip between two names that are both rare is a slip: Kai keyed as Kia is
    # likelier than twins given those two rare names (FEBRL 2's and 3's misses).
    ("slip_between_two_rare_names", _with(first_name="Kai", gender=None, email=None, phone=None),
     _with(first_name="Kia", gender=None, email=None, phone=None), "first_name_typo"),
    ("letter_dropped_between_two_rare_names", _with(first_name="Michaela", email=None, phone=None),
     _with(first_name="Micaela", email=None, phone=None), "first_name_typo"),
    ("letter_added_between_two_rare_names", _with(first_name="Alesha", dob=date(1988, 4, 13)),
     _with(first_name="Aleisha"), "first_name_typo"),
    # A generational DOB typo with no email or phone on either record: a parent and
    # child of one name born on the same day of the year are far rarer than a mistyped
    # year (issue 13: was possible_parent_child, now close; a wrong close goes to staff
    # review, there being no phone on the record to send a code to).
    ("year_transposed_no_contact_to_compare",
     _with(dob=date(1985, 4, 12), email=None, phone=None),
     _with(dob=date(1958, 4, 12), email=None, phone=None), "dob_year_transposed"),
    # DOBs a month apart are one DOB mistyped, never siblings (issue 13: George keyed
    # as the nickname Georgie, a girl's name in the census, with a month digit off).
    ("month_digit_off_alike_names_of_two_sexes",
     _with(first_name="George", gender=None, dob=date(1975, 7, 4)),
     _with(first_name="Georgie", gender=None, dob=date(1975, 8, 4)), "first_name_nickname"),
    # Three-letter names two edits apart, not both names, with an agreeing email or phone.
    ("short_first_name_two_edits_contact_agrees", _with(first_name="Wei"),
     _with(first_name="Iw"), "first_name_similar"),
    ("short_surname_two_edits_contact_agrees", _with(last_name="Lee"), _with(last_name="Jle"),
     "last_name_two_edits"),
    # Both records say M and one name is a woman's (census): Omar keyed as "Oma" is a
    # typo, not a brother's name (issue 13; parents of boys name them as boys).
    ("name_of_the_other_sex_than_both_records", _with(first_name="Omar", gender="M"),
     _with(first_name="Oma", gender="M"), "first_name_one_edit"),
    # Every field a typo away and the phone agrees: close though the weights fall short
    # (15.9 bits: two edits in each name, a DOB digit, a move, X against F). Issue 13.
    ("contact_confirms_typos", OLIVIA,
     _with(first_name="Oluvoa", last_name="Brannen", dob=date(1983, 4, 12), zip="94110",
           email=None, gender="X"), "contact_confirms_typos"),
    # Alike names and a DOB a decade digit off, 30 years apart, the email and phone
    # agreeing: no siblings are born a generation apart; the parent and child guard,
    # which an agreeing contact lifts, judges that shape (issue 13: Mei keyed as "Mi").
    ("alike_names_a_generation_apart_contact_agrees",
     _with(first_name="Kristen", dob=date(1960, 6, 1)),
     _with(first_name="Kirsten", dob=date(1990, 6, 1)), "dob_year_digit"),
    # A year transposed 63 years apart: older than parents get (FEBRL 3's 1929/1992).
    ("year_transposed_beyond_a_generation", _with(dob=date(1929, 4, 21), email=None, phone=None),
     _with(dob=date(1992, 4, 21), email=None, phone=None), "dob_year_transposed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "reason"), [pytest.param(a, b, r, id=i) for i, a, b, r in PASSING_TABLE]
)
def test_same_person_shapes_pass_the_guards(a: Demographics, b: Demographics, reason: str) -> None:
    for x, y in ((a, b), (b, a)):
        result = compare(x, y)
        assert result.kind == "close", result
        assert reason in result.reasons and not set(result.reasons) & GUARDS, result


def test_a_missing_field_is_never_evidence_against() -> None:
    """Leaving out a field that disagreed never lowers the score and fires no guard."""
    checked = 0
    for pair in generate_hard(HOLDOUT_SEED, per_category=25):
        before = compare(pair.a, pair.b)
        for name in ("email", "phone", "gender"):
            if getattr(pair.a, name) is None or getattr(pair.b, name) is None:
                continue
            after = compare(pair.a, replace(pair.b, **{name: None}))
            if f"{name}_differs" in before.reasons or f"{name}_conflict" in before.reasons:
                checked += 1
                assert after.score >= before.score, (pair, before, after)
                new = set(after.reasons) - set(before.reasons)
                assert not new & (GUARDS | DECISIVE), (pair, before, after)
    assert checked >= 50


CONFIRMED = _with(
    first_name="Oluvoa",
    last_name="Brannen",
    dob=date(1983, 4, 12),
    zip="94110",
    email=None,
    gender="X",
)


@pytest.mark.parametrize(
    ("b", "why"),
    [
        pytest.param(replace(CONFIRMED, phone="6175550999"), "phone_differs", id="phone_differs"),
        pytest.param(replace(CONFIRMED, phone=None), "no_contact", id="no_contact"),
        pytest.param(replace(CONFIRMED, last_name="Okafor"), "surname_changed", id="surname"),
        pytest.param(replace(CONFIRMED, dob=date(1983, 5, 13)), "dob_conflict", id="dob"),
    ],
)
def test_contact_confirms_only_typos_with_agreement(b: Demographics, why: str) -> None:
    """The contact rule needs an agreeing email or phone, none disagreeing, and every
    field within issue 13's typo level; otherwise the weights decide (here: none)."""
    for x, y in ((OLIVIA, b), (b, OLIVIA)):
        result = compare(x, y)
        assert result.kind == "none", (why, result)
        assert "contact_confirms_typos" not in result.reasons
