"""The labelled pairs the identity matcher is tested and measured on.

Each :class:`Case` holds two records as people and systems type them, the answer
we want (``exact``, ``close`` or ``none``) and the reason codes that must appear.
Labels say what a careful registrar should conclude from these fields alone,
following the rules in ``idp/policies/matching.py`` where that module takes a
documented position (married names, year transpositions, one-digit DOB changes).

Holdout: within every category, every third case (the 3rd, 6th, 9th, ...) is held
out. The split is fixed by position and was written with the cases, before any
threshold was set; ``bench/matching_quality.py`` reports both parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from idp.policies.matching import Demographics


def P(  # noqa: N802 - a short constructor keeps the tables readable
    first: str,
    last: str,
    dob: str,
    zip: str,
    gender: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> Demographics:
    return Demographics(first, last, date.fromisoformat(dob), zip, gender, email, phone)


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    category: str
    expected: str  # "exact" | "close" | "none"
    a: Demographics
    b: Demographics
    reasons: tuple[str, ...]  # codes that must be among the result's reasons
    holdout: bool
    note: str = ""


# (a, b, reasons, note) per category; the expected kind is the category's prefix.
_RAW: dict[str, list[tuple[Demographics, Demographics, tuple[str, ...], str]]] = {
    # --- exact: the FAQ's six fields equal once normalised ---------------------------------
    "exact": [
        (
            P("Maria", "Gonzalez", "1985-03-12", "02139", "F", "maria.g@example.com"),
            P("MARIA", "gonzalez", "1985-03-12", "02139-4307", "female", "Maria.G@Example.com"),
            ("first_name_exact", "zip_exact", "email_exact"),
            "case, ZIP+4, gender word, email case",
        ),
        (
            P("José", "Álvarez", "1979-11-02", "78701", "M", "jalvarez@example.net"),
            P("Jose", "Alvarez", "1979-11-02", "78701", "male", "jalvarez@example.net"),
            ("first_name_exact", "last_name_exact"),
            "diacritics",
        ),
        (
            P("Zoë", "Müller", "2001-06-30", "10001", "f", "zoe.m@example.org"),
            P("Zoe", "Muller", "2001-06-30", "10001", "Female", "zoe.m@example.org"),
            ("first_name_exact",),
            "diaeresis",
        ),
        (
            P("Mary K.", "O'Brien", "1968-01-19", " 60614 ", "woman", "mob@example.com"),
            P("Mary", "OBrien", "1968-01-19", "60614", "F", "MOB@example.com"),
            ("first_name_exact", "last_name_exact"),
            "middle initial in first name field, apostrophe, spaces in zip",
        ),
        (
            P("Luis", "Garcia Lopez", "1990-09-09", "33101", "M", "lgl@example.com"),
            P("Luis", "Garcia-Lopez", "1990-09-09", "33101", "M", "lgl@example.com"),
            ("last_name_exact",),
            "two-part surname with and without hyphen",
        ),
        (
            P("Dana", "Reyes", "1975-02-14", "94110", "F", "dana@example.com", "(415) 555-0142"),
            P("Dana", "Reyes", "1975-02-14", "94110", "F", "dana@example.com", "+1 415 555 0142"),
            ("phone_exact", "email_exact"),
            "phone formats",
        ),
        (
            P("  John ", "Smith Jr.", "1983-07-04", "30305", "M", "jsmithjr@example.com"),
            P("John", "Smith, Jr", "1983-07-04", "30305", "m", "jsmithjr@example.com"),
            ("last_name_exact",),
            "suffix written two ways",
        ),
        (
            P("Robin", "Ellis", "1995-12-01", "97205", "X", "robin@example.org"),
            P("Robin", "Ellis", "1995-12-01", "97205", "other", "robin@example.org"),
            ("first_name_exact",),
            "non-binary gender written two ways",
        ),
        (
            P("Anne-Marie", "Dubois", "1971-05-05", "70112", "F", "amd@example.fr"),
            P("Anne Marie", "DuBois", "1971-05-05", "70112", "F", "amd@example.fr"),
            ("first_name_exact",),
            "compound first name with and without hyphen",
        ),
        (
            P("Isabel", "De La Cruz", "1988-08-18", "85004", "F", "idlc@example.com"),
            P("Isabel", "Delacruz", "1988-08-18", "85004", "F", "idlc@example.com"),
            ("last_name_exact",),
            "surname particles run together",
        ),
        (
            P("Sean", "McDonald", "1962-03-03", "02116", "M", "sean.mcd@example.com"),
            P("Sean", "Mc Donald", "1962-03-03", "02116", "M", "sean.mcd@example.com"),
            ("last_name_exact",),
            "Mc with a space",
        ),
        (
            P("Grace", "Kelly", "1993-04-22", "2139", "F", "gk@example.com"),
            P("Grace", "Kelly", "1993-04-22", "02139", "F", "gk@example.com"),
            ("zip_exact",),
            "leading zero lost by a spreadsheet",
        ),
        (
            P("Patricia", "Nguyen", "1959-10-10", "95112", "F", " Pat.Nguyen@EXAMPLE.org "),
            P("Patricia", "Nguyen", "1959-10-10", "95112", "F", "pat.nguyen@example.org"),
            ("email_exact",),
            "email spaces and case",
        ),
        (
            P("Łukasz", "Wiśniewski", "1987-02-28", "60630", "M", "lw@example.pl"),
            P("Lukasz", "Wisniewski", "1987-02-28", "60630", "M", "lw@example.pl"),
            ("first_name_exact", "last_name_exact"),
            "Polish letters beyond NFKD",
        ),
        (
            P("Siobhán", "Ní Bhriain", "1999-03-17", "02127", "F", "siobhan@example.ie"),
            P("Siobhan", "Ni Bhriain", "1999-03-17", "02127", "F", "siobhan@example.ie"),
            ("last_name_exact",),
            "Irish accents",
        ),
        (
            P("Klaus", "Strauß", "1954-09-01", "53202", "M", "ks@example.de"),
            P("Klaus", "Strauss", "1954-09-01", "53202", "M", "ks@example.de"),
            ("last_name_exact",),
            "sharp s",
        ),
        (
            P("Jean-Luc", "Picard", "1960-07-13", "94043", "M", "jlp@example.com", "6505550199"),
            P("Jean Luc", "Picard", "1960-07-13", "94043", "Man", "jlp@example.com"),
            ("first_name_exact", "email_exact"),
            "phone on one side only does not matter",
        ),
        (
            P("Aaliyah", "Brooks", "2004-01-31", "48201", "F", "ab@example.com", "313-555-0101"),
            P("Aaliyah", "Brooks", "2004-01-31", "48201", "F", "ab@example.com", "313-555-0177"),
            ("email_exact", "phone_differs"),
            "new phone; the FAQ rule has no phone",
        ),
    ],
    # --- close: first-name typing slips --------------------------------------------------
    "close_first_typo": [
        (
            P("Jonh", "Miller", "1980-05-06", "19103", "M", "jmiller@example.com"),
            P("John", "Miller", "1980-05-06", "19103", "M", "jmiller@example.com"),
            ("first_name_typo",),
            "adjacent transposition",
        ),
        (
            P("Micheal", "Brown", "1977-08-21", "75201", "M", phone="214-555-0155"),
            P("Michael", "Brown", "1977-08-21", "75201", "M", "mb@example.com", "2145550155"),
            ("first_name_typo", "phone_exact"),
            "classic misspelling",
        ),
        (
            P("Sarha", "Johnson", "1991-11-11", "55401", "F", "sarahj@example.com"),
            P("Sarah", "Johnson", "1991-11-11", "55401", "F", "sarahj@example.com"),
            ("first_name_typo",),
            "",
        ),
        (
            P("Jennifr", "Davis", "1984-04-04", "80202", "F"),
            P("Jennifer", "Davis", "1984-04-04", "80202", "F"),
            ("first_name_typo",),
            "dropped letter inside a long name, no contact given",
        ),
        (
            P("Cristopher", "Wilson", "1969-12-24", "64105", phone="816 555 0123"),
            P("Christopher", "Wilson", "1969-12-24", "64105", phone="(816) 555-0123"),
            ("first_name_typo", "phone_exact"),
            "",
        ),
        (
            P("Phillip", "Moore", "1957-06-15", "37203", "M", "pmoore@example.com"),
            P("Philip", "Moore", "1957-06-15", "37203", "M", "pmoore@example.com"),
            ("first_name_typo",),
            "doubled letter",
        ),
        (
            P("Dsvid", "Taylor", "1994-09-27", "98101", "M", "dtaylor@example.com"),
            P("David", "Taylor", "1994-09-27", "98101", "M", "dtaylor@example.com"),
            ("first_name_typo",),
            "neighbouring key",
        ),
        (
            P("Rbecca", "Anderson", "1986-02-03", "84101", "F"),
            P("Rebecca", "Anderson", "1986-02-03", "84101"),
            ("first_name_typo",),
            "",
        ),
        (
            P("Ashely", "Thomas", "1998-07-19", "73102", "F", "ashley.t@example.com"),
            P("Ashley", "Thomas", "1998-07-19", "73102", "F", "ashley.t@example.com"),
            ("first_name_typo",),
            "",
        ),
        (
            P("Matthew", "Jackson", "1973-03-30", "46204", "M", phone="317.555.0188"),
            P("Mathew", "Jackson", "1973-03-30", "46204", "M", phone="+1 317 555 0188"),
            ("first_name_typo",),
            "",
        ),
        (
            P("Elizbeth", "White", "1965-10-08", "27601", "F", "ewhite@example.com"),
            P("Elizabeth", "White", "1965-10-08", "27601", "F", "ewhite@example.com"),
            ("first_name_typo",),
            "",
        ),
        (
            P("Kevni", "Harris", "2000-01-12", "29201", "M"),
            P("Kevin", "Harris", "2000-01-12", "29201", "M"),
            ("first_name_typo",),
            "",
        ),
    ],
    # --- close: nicknames ----------------------------------------------------------------
    "close_nickname": [
        (
            P("Bill", "Clark", "1952-04-17", "43215", "M", "bclark@example.com"),
            P("William", "Clark", "1952-04-17", "43215", "M", "bclark@example.com"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Peggy", "Lewis", "1948-11-29", "02459", "F"),
            P("Margaret", "Lewis", "1948-11-29", "02459", "F"),
            ("first_name_nickname",),
            "no contact given",
        ),
        (
            P("Liz", "Walker", "1982-06-06", "53703", "F", phone="608-555-0110"),
            P("Elizabeth", "Walker", "1982-06-06", "53703", "F", phone="6085550110"),
            ("first_name_nickname", "phone_exact"),
            "",
        ),
        (
            P("Bob", "Hall", "1960-01-01", "68102", "M", "bobhall@example.com"),
            P("Robert", "Hall", "1960-01-01", "68102", "M", "bobhall@example.com"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Jim", "Young", "1971-08-08", "40202", "M"),
            P("James", "Young", "1971-08-08", "40202", "M", "jyoung@example.com"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Kate", "King", "1989-12-12", "06510", "F", "kking@example.com"),
            P("Katherine", "King", "1989-12-12", "06510", "F", "kking@example.com"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Maggie", "Wright", "1995-05-25", "35203", "F", phone="205 555 0133"),
            P("Margaret", "Wright", "1995-05-25", "35203-1234", "F", phone="205-555-0133"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Beth", "Scott", "1978-03-09", "23219", "F"),
            P("Elizabeth", "Scott", "1978-03-09", "23219"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Tony", "Green", "1966-07-22", "32801", "M", "tgreen@example.com"),
            P("Anthony", "Green", "1966-07-22", "32801", "M", "tgreen@example.com"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Dick", "Baker", "1945-02-02", "14604", "M", phone="585-555-0166"),
            P("Richard", "Baker", "1945-02-02", "14604", "M", phone="585-555-0166"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Sue", "Adams", "1958-09-14", "57104", "F", "sue.adams@example.com"),
            P("Susan", "Adams", "1958-09-14", "57104", "F", "sue.adams@example.com"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Chuck", "Nelson", "1963-10-31", "59601", "M"),
            P("Charles", "Nelson", "1963-10-31", "59601", "M"),
            ("first_name_nickname",),
            "",
        ),
        (
            P("Becky", "Ortiz", "1990-04-15", "87102", "F", "becky.o@example.com"),
            P("Rebecca", "Ortiz", "1990-04-15", "87102", "F", "becky.o@example.com"),
            ("first_name_nickname",),
            "",
        ),
    ],
    # --- close: equal once normalised, but the FAQ's six are not all present -------------
    "close_normalised": [
        (
            P("ZOË", "Peña", "2002-02-20", "90012", "F", "zoe.pena@example.com"),
            P("zoe", "Pena", "2002-02-20", "90012", "F"),
            ("first_name_exact", "last_name_exact", "dob_exact"),
            "email on one side only",
        ),
        (
            P("José", "Núñez", "1974-06-18", "78205", "M", "jose1@example.com"),
            P("Jose", "Nunez", "1974-06-18", "78205", "M", "jnunez@example.com"),
            ("email_differs",),
            "new email",
        ),
        (
            P("François", "Lefèvre", "1983-01-09", "70116", "M"),
            P("Francois", "Lefevre", "1983-01-09", "70116"),
            ("first_name_exact",),
            "gender on one side only",
        ),
        (
            P("Chloé", "Dupont", "1997-09-03", "10013", "F"),
            P("chloe", "DUPONT", "1997-09-03", "10013-2045", "F"),
            ("zip_exact",),
            "no email on either side",
        ),
        (
            P("Renée", "O'Connor", "1961-12-15", "02128"),
            P("Renee", "Oconnor", "1961-12-15", "02128"),
            ("last_name_exact",),
            "",
        ),
        (
            P("Søren", "Kierkegaard", "1980-05-05", "55104", "M", "sk@example.dk"),
            P("Soren", "Kierkegaard", "1980-05-05", "55104", "U", "sk@example.dk"),
            ("first_name_exact", "email_exact"),
            "gender unknown on one side is not a known gender",
        ),
        (
            P("Zoë", "Adeyemi", "1999-11-21", "30310", "unknown", "za@example.com"),
            P("Zoe", "Adeyemi", "1999-11-21", "30310", "unknown", "za@example.com"),
            ("first_name_exact",),
            "unknown gender on both sides is not an exact match",
        ),
    ],
    # --- close: hyphenated or two-part surnames ------------------------------------------
    "close_hyphen_surname": [
        (
            P("Ana", "Garcia", "1986-07-07", "33125", "F"),
            P("Ana", "Garcia-Lopez", "1986-07-07", "33125", "F"),
            ("last_name_hyphen_part",),
            "",
        ),
        (
            P("Luis", "Garcia Lopez", "1979-03-15", "60608", "M", "luisgl@example.com"),
            P("Luis", "Lopez", "1979-03-15", "60608", "M", "luisgl@example.com"),
            ("last_name_hyphen_part",),
            "",
        ),
        (
            P("Emily", "Smith-Jones", "1992-10-02", "97214", "F"),
            P("Emily", "Jones", "1992-10-02", "97214", "F"),
            ("last_name_hyphen_part",),
            "",
        ),
        (
            P("Carmen", "Rodriguez de la Fuente", "1970-04-28", "78207", "F"),
            P("Carmen", "Rodriguez", "1970-04-28", "78207", "F"),
            ("last_name_hyphen_part",),
            "",
        ),
        (
            P("Sara", "Lopez Garcia", "1988-12-30", "92101", "F", "slg@example.com"),
            P("Sara", "Garcia Lopez", "1988-12-30", "92101", "F", "slg@example.com"),
            ("last_name_hyphen_part",),
            "parts in the other order",
        ),
        (
            P("Hannah", "Taylor", "1996-06-16", "15213", "F", "htaylor@example.com"),
            P("Hannah", "Taylor-Wright", "1996-06-16", "15213", "F", "htaylor@example.com"),
            ("last_name_hyphen_part",),
            "",
        ),
        (
            P("Miguel", "Hernandez", "1975-08-11", "85009", "M"),
            P("Miguel", "Hernández Ruiz", "1975-08-11", "85009", "M"),
            ("last_name_hyphen_part",),
            "",
        ),
        (
            P("Olivia", "Brown-Smith", "2005-02-25", "21201", "F"),
            P("Olivia", "Smith", "2005-02-25", "21201"),
            ("last_name_hyphen_part",),
            "",
        ),
        (
            P("Mateo", "Fernández Castro", "1983-05-19", "11211", "M", phone="718-555-0190"),
            P("Mateo", "Castro", "1983-05-19", "11211", "M", phone="718 555 0190"),
            ("last_name_hyphen_part",),
            "",
        ),
    ],
    # --- close: last-name typos ----------------------------------------------------------
    "close_last_typo": [
        (
            P("Anna", "Smyth", "1990-08-01", "02140", "F"),
            P("Anna", "Smith", "1990-08-01", "02140", "F"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Paul", "Thomson", "1967-05-12", "48104", "M"),
            P("Paul", "Thompson", "1967-05-12", "48104", "M"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Greta", "Schmitt", "1955-03-23", "53211", "F", "gschmidt@example.com"),
            P("Greta", "Schmidt", "1955-03-23", "53211", "F", "gschmidt@example.com"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Ian", "Johnston", "1981-09-09", "97401", "M"),
            P("Ian", "Johnson", "1981-09-09", "97401", "M"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Marta", "Kowalsky", "1976-12-19", "60629", "F"),
            P("Marta", "Kowalski", "1976-12-19", "60629", "F"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Neil", "Fitzgerlad", "1959-01-27", "02169", "M", "nfitz@example.com"),
            P("Neil", "Fitzgerald", "1959-01-27", "02169", "M", "nfitz@example.com"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Linh", "Nguyn", "1993-03-03", "77036", "F"),
            P("Linh", "Nguyen", "1993-03-03", "77036", "F"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Owen", "MacCarthy", "1972-07-27", "02124", "M"),
            P("Owen", "McCarthy", "1972-07-27", "02124", "M"),
            ("last_name_typo",),
            "",
        ),
        (
            P("Priyanka", "Chaudhary", "1987-06-21", "08817", "F"),
            P("Priyanka", "Chaudhry", "1987-06-21", "08817", "F"),
            ("last_name_typo",),
            "",
        ),
    ],
    # --- close: transposed digits in the date of birth -----------------------------------
    "close_dob_transposed": [
        (
            P("Robert", "Chen", "1985-03-12", "94122", "M"),
            P("Robert", "Chen", "1985-03-21", "94122", "M"),
            ("dob_transposed_digits",),
            "day digits",
        ),
        (
            P("Linda", "Park", "1958-07-04", "90006", "F", "lpark@example.com", "213-555-0120"),
            P("Linda", "Park", "1985-07-04", "90006", "F", "lpark@example.com", "2135550120"),
            ("dob_transposed_digits", "dob_year_transposed"),
            "year digits: needs email and phone",
        ),
        (
            P("Sofia", "Rossi", "1990-01-15", "10014", "F"),
            P("Sofia", "Rossi", "1990-10-15", "10014", "F"),
            ("dob_transposed_digits",),
            "month digits",
        ),
        (
            P("Tariq", "Aziz", "1999-08-13", "48126", "M"),
            P("Tariq", "Aziz", "1999-08-31", "48126", "M"),
            ("dob_transposed_digits",),
            "",
        ),
        (
            P("Helen", "Morris", "1976-12-02", "63110", "F", "hmorris@example.com"),
            P("Helen", "Morris", "1976-12-20", "63110", "F", "hmorris@example.com"),
            ("dob_transposed_digits",),
            "",
        ),
        (
            P("Ethan", "Lee", "2010-04-01", "96813", "M"),
            P("Ethan", "Lee", "2010-04-10", "96813", "M"),
            ("dob_transposed_digits",),
            "",
        ),
        (
            P("Harold", "Finch", "1947-02-14", "10038", "M", "hf@example.com", "212-555-0147"),
            P("Harold", "Finch", "1974-02-14", "10038", "M", "hf@example.com", "212-555-0147"),
            ("dob_year_transposed",),
            "",
        ),
        (
            P("Fatima", "Begum", "1983-05-13", "11373-2201", "F"),
            P("Fatima", "Begum", "1983-05-31", "11373", "F"),
            ("dob_transposed_digits",),
            "",
        ),
    ],
    # --- close: day and month swapped ----------------------------------------------------
    "close_dob_day_month": [
        (
            P("Priya", "Patel", "1985-03-04", "07302", "F"),
            P("Priya", "Patel", "1985-04-03", "07302", "F"),
            ("dob_day_month_swapped",),
            "",
        ),
        (
            P("Omar", "Haddad", "1992-07-11", "48128", "M", "ohaddad@example.com"),
            P("Omar", "Haddad", "1992-11-07", "48128", "M", "ohaddad@example.com"),
            ("dob_day_month_swapped",),
            "",
        ),
        (
            P("Chiara", "Bianchi", "2003-02-09", "19147", "F"),
            P("Chiara", "Bianchi", "2003-09-02", "19147"),
            ("dob_day_month_swapped",),
            "",
        ),
        (
            P("Gavin", "Murphy", "1968-12-05", "02132", "M"),
            P("Gavin", "Murphy", "1968-05-12", "02132-3301", "M"),
            ("dob_day_month_swapped",),
            "",
        ),
        (
            P("Yuki", "Tanaka", "1979-06-08", "98104", "F", phone="206-555-0108"),
            P("Yuki", "Tanaka", "1979-08-06", "98104", "F", phone="206-555-0108"),
            ("dob_day_month_swapped",),
            "",
        ),
        (
            P("Edith", "Clarke", "1955-10-01", "05401", "F"),
            P("Edith", "Clarke", "1955-01-10", "05401", "F"),
            ("dob_day_month_swapped",),
            "",
        ),
    ],
    # --- close: one digit off in the ZIP code --------------------------------------------
    "close_zip_typo": [
        (
            P("Nora", "Quinn", "1984-09-19", "02139", "F"),
            P("Nora", "Quinn", "1984-09-19", "02138", "F"),
            ("zip_typo",),
            "one digit",
        ),
        (
            P("Felix", "Wagner", "1970-02-08", "94110", "M"),
            P("Felix", "Wagner", "1970-02-08", "94101", "M"),
            ("zip_typo",),
            "transposed",
        ),
        (
            P("Irene", "Costa", "1963-11-25", "60614", "F"),
            P("Irene", "Costa", "1963-11-25", "60641", "F"),
            ("zip_typo",),
            "",
        ),
        (
            P("Victor", "Hugo", "1990-06-06", "10025", "M"),
            P("Victor", "Hugo", "1990-06-06", "10026"),
            ("zip_typo",),
            "",
        ),
        (
            P("Leah", "Stein", "1997-01-03", "30305", "F"),
            P("Leah", "Stein", "1997-01-03", "30350", "F"),
            ("zip_typo",),
            "",
        ),
        (
            P("Diego", "Silva", "1982-04-09", "73301-0001", "M"),
            P("Diego", "Silva", "1982-04-09", "73310", "M"),
            ("zip_typo",),
            "ZIP+4 against a transposed ZIP5",
        ),
    ],
    # --- close: first and last name swapped ----------------------------------------------
    "close_names_swapped": [
        (
            P("Chen", "Wei", "1988-10-10", "94133", "M"),
            P("Wei", "Chen", "1988-10-10", "94133", "M"),
            ("names_swapped",),
            "",
        ),
        (
            P("Kim", "Minjun", "1995-07-07", "90020", "M"),
            P("Minjun", "Kim", "1995-07-07", "90020"),
            ("names_swapped",),
            "",
        ),
        (
            P("Taylor", "James", "1979-04-01", "37209", "M", "jt@example.com"),
            P("James", "Taylor", "1979-04-01", "37209", "M", "jt@example.com"),
            ("names_swapped",),
            "",
        ),
        (
            P("Lopez", "Maria", "1966-03-26", "91331", "F", "mlopez@example.com"),
            P("Maria", "Lopez", "1966-03-26", "91331", "F", "mlopez@example.com"),
            ("names_swapped",),
            "",
        ),
        (
            P("Park", "Jisoo", "2000-12-25", "07024", "F"),
            P("Jisoo", "Park", "2000-12-25", "07024-5501", "F"),
            ("names_swapped",),
            "",
        ),
        (
            P("Ali", "Hassan", "1974-08-30", "48126", "M"),
            P("Hassan", "Ali", "1974-08-30", "48126", "M"),
            ("names_swapped",),
            "",
        ),
    ],
    # --- close: moved house (zip changed), same email or phone ---------------------------
    "close_moved": [
        (
            P("Claire", "Bennett", "1987-05-14", "02139", "F", "cbennett@example.com"),
            P("Claire", "Bennett", "1987-05-14", "94110", "F", "cbennett@example.com"),
            ("zip_differs", "email_exact"),
            "",
        ),
        (
            P("Marcus", "Reid", "1975-09-02", "30303", "M", "mreid@example.com", "404-555-0111"),
            P("Marcus", "Reid", "1975-09-02", "28202", "M", "marcus@example.net", "4045550111"),
            ("phone_exact", "email_differs"),
            "",
        ),
        (
            P("Nadia", "Haddad", "1990-02-17", "60601", "F", "nadia@example.com", "312-555-0102"),
            P("Nadia", "Haddad", "1990-02-17", "85004", "F", "nadia@example.com", "602-555-0177"),
            ("email_exact",),
            "",
        ),
        (
            P("Jim", "Sullivan", "1950-12-12", "02474", "M", "jsully@example.com"),
            P("James", "Sullivan", "1950-12-12", "33480", "M", "jsully@example.com"),
            ("first_name_nickname", "email_exact"),
            "",
        ),
        (
            P("Rosa", "Delgado", "1969-06-29", "87501", "F", phone="505-555-0123"),
            P("Rosa", "Delgado", "1969-06-29", "80202", phone="5055550123"),
            ("phone_exact",),
            "",
        ),
        (
            P("Ahmed", "Farouk", "1985-01-22", "10463", "M", "afarouk@example.com"),
            P("Ahmed", "Farouk", "1985-01-22", "", "M", "afarouk@example.com"),
            ("email_exact",),
            "zip missing on one side",
        ),
    ],
    # --- close: married name change (decision: close with email AND phone) ---------------
    "close_married_name": [
        (
            P("Emma", "Johnson", "1990-03-08", "02144", "F", "emma.j@example.com", "617-555-0191"),
            P("Emma", "Williams", "1990-03-08", "02155", "F", "emma.j@example.com", "6175550191"),
            ("last_name_changed",),
            "",
        ),
        (
            P("Aisha", "Khan", "1988-11-04", "60660", "F", "aisha@example.com", "773-555-0144"),
            P("Aisha", "Malik", "1988-11-04", "60660", "F", "aisha@example.com", "773-555-0144"),
            ("last_name_changed",),
            "",
        ),
        (
            P("Beth", "Miller", "1979-07-17", "43201", "F", "beth.m@example.com", "614-555-0109"),
            P(
                "Elizabeth",
                "Cooper",
                "1979-07-17",
                "43201",
                "F",
                "beth.m@example.com",
                "6145550109",
            ),
            ("last_name_changed", "first_name_nickname"),
            "",
        ),
        (
            P("Julia", "Santos", "1993-04-12", "92103", email="js@example.com", phone="6195550164"),
            P("Julia", "Okafor", "1993-04-12", "92103", "F", "js@example.com", "619-555-0164"),
            ("last_name_changed",),
            "",
        ),
    ],
    # --- close: several small differences, backed by email or phone ----------------------
    "close_combined": [
        (
            P("Bill", "Owens", "1961-04-09", "84103", "M", "bowens@example.com"),
            P("William", "Owens", "1961-09-04", "84103", "M", "bowens@example.com"),
            ("first_name_nickname", "dob_day_month_swapped"),
            "",
        ),
        (
            P("Gina", "Kowalczyk", "1974-05-30", "60607", "F", phone="312-555-0170"),
            P("Gina", "Kowalczik", "1974-05-30", "60617", "F", phone="312-555-0170"),
            ("last_name_typo", "zip_typo", "phone_exact"),
            "",
        ),
        (
            P("Inés", "García", "1982-03-12", "33133", "F", "ines@example.com"),
            P("Ines", "García-Vega", "1982-03-21", "33133", "F", "ines@example.com"),
            ("last_name_hyphen_part", "dob_transposed_digits"),
            "",
        ),
        (
            P("Jonh", "Petersen", "1978-08-19", "55406", "M", "jp@example.com"),
            P("John", "Peterson", "1978-08-19", "55406", "M", "jp@example.com"),
            ("first_name_typo", "last_name_typo"),
            "",
        ),
        (
            P("Nguyen", "Thanh", "1991-05-06", "95111", "M", "tn@example.com"),
            P("Thanh", "Nguyen", "1991-06-05", "95111", "M", "tn@example.com"),
            ("names_swapped", "dob_day_month_swapped"),
            "",
        ),
        (
            P("Mary K.", "Lynch", "1970-10-20", "02130", "F", "mlynch@example.com"),
            P("Mary L.", "Lynch", "1970-10-20", "02130", "F", "mlynch@example.com"),
            ("middle_initial_conflict",),
            "different middle initials keep it from exact",
        ),
        (
            P("Maggie", "O'Neill", "1984-12-01", "02215", "F", "maggie@example.com"),
            P("Margaret", "ONeil", "1984-12-01", "02215", "F", "maggie@example.com"),
            ("first_name_nickname", "last_name_typo"),
            "",
        ),
    ],
    # --- never close: twins --------------------------------------------------------------
    "none_twins": [
        (
            P("Mary", "Johnson", "2008-05-05", "02139", "F", "johnsonfam@example.com"),
            P("Martha", "Johnson", "2008-05-05", "02139", "F", "johnsonfam@example.com"),
            ("first_name_conflict",),
            "different names, shared parent email",
        ),
        (
            P("Jaden", "Williams", "2012-09-09", "30318", "M", "willfam@example.com", "4045550101"),
            P(
                "Jayden",
                "Williams",
                "2012-09-09",
                "30318",
                "M",
                "willfam@example.com",
                "4045550101",
            ),
            ("possible_twin",),
            "rhyming twin names one letter apart",
        ),
        (
            P("John", "Davis", "1990-01-20", "75204", "M", "davis@example.com", "214-555-0100"),
            P("Jon", "Davis", "1990-01-20", "75204", "M", "davis@example.com", "214-555-0100"),
            ("possible_twin",),
            "spelled-alike names are how twins are told apart, not typos",
        ),
        (
            P("Mary", "Brown", "2015-03-14", "60614", "F", "brownparents@example.com"),
            P("Marie", "Brown", "2015-03-14", "60614", "F", "brownparents@example.com"),
            ("possible_twin",),
            "",
        ),
        (
            P("Ethan", "Clark", "2011-07-01", "98052", phone="425-555-0150"),
            P("Evan", "Clark", "2011-07-01", "98052", phone="425-555-0150"),
            ("possible_twin",),
            "",
        ),
        (
            P("Emma", "Lewis", "2016-02-02", "20002", "F"),
            P("Ella", "Lewis", "2016-02-02", "20002", "F"),
            ("possible_twin",),
            "",
        ),
        (
            P("Liam", "Young", "2009-10-10", "94117", "M", "youngs@example.com"),
            P("Noah", "Young", "2009-10-10", "94117", "M", "youngs@example.com"),
            ("first_name_conflict",),
            "",
        ),
        (
            P("Aiden", "Moore", "2014-04-04", "33139", "M", "moores@example.com"),
            P("Aidan", "Moore", "2014-04-04", "33139", "M", "moores@example.com"),
            ("possible_twin",),
            "",
        ),
        (
            P("Olivia", "Garcia", "2013-06-06", "78704", "F", "garcias@example.com"),
            P("Oliver", "Garcia", "2013-06-06", "78704", "M", "garcias@example.com"),
            ("gender_conflict",),
            "boy/girl twins",
        ),
        (
            P("Daniel", "Reyes", "2010-11-11", "90042", email="reyes@example.com"),
            P("Daniela", "Reyes", "2010-11-11", "90042", email="reyes@example.com"),
            ("possible_twin",),
            "gendered ending, no gender recorded",
        ),
        (
            P("Mary", "Foster", "1975-08-08", "02446", "F", "mary.foster@example.com"),
            P("Marilyn", "Foster", "1975-08-08", "02446", "F", "marilyn.f@example.com"),
            ("possible_twin",),
            "adult twins whose names the nickname list relates, each with her own email",
        ),
        (
            P("Tom", "Baker", "2005-12-12", "97202", "M", "bakers@example.com"),
            P("Tim", "Baker", "2005-12-12", "97202", "M", "bakers@example.com"),
            ("possible_twin",),
            "one key apart but two different names",
        ),
        (
            P("Ron", "Wilson", "1998-03-03", "53202", "M", phone="414-555-0130"),
            P("Don", "Wilson", "1998-03-03", "53202", "M", phone="414-555-0130"),
            ("possible_twin",),
            "",
        ),
        (
            P("Madison", "Hill", "2007-07-07", "28203", "F", "hills@example.com"),
            P("Addison", "Hill", "2007-07-07", "28203", "F", "hills@example.com"),
            ("possible_twin",),
            "",
        ),
        (
            P("Gabriel", "Santos", "2012-01-30", "02128", email="santos@example.com"),
            P("Gabriela", "Santos", "2012-01-30", "02128", email="santos@example.com"),
            ("possible_twin",),
            "",
        ),
        (
            P("Kristen", "Olsen", "1994-05-21", "55105", "F", "olsens@example.com"),
            P("Kirsten", "Olsen", "1994-05-21", "55105", "F", "olsens@example.com"),
            (),
            "transposition that is also a distinct name; accepted risk if it matches",
        ),
        (
            P("Mary", "Foster", "1975-08-08", "02446", "F", "fosters@example.com"),
            P("Marilyn", "Foster", "1975-08-08", "02446", "F", "fosters@example.com"),
            (),
            "twins with related names sharing a parent's email: the documented residual risk",
        ),
    ],
    # --- never close: parent and child with the same name --------------------------------
    "none_parent_child": [
        (
            P("John", "Smith Jr", "1985-06-01", "02139", "M", "smiths@example.com"),
            P("John", "Smith Sr", "1958-06-01", "02139", "M", "smiths@example.com"),
            ("suffix_conflict",),
            "year digits transposed by coincidence",
        ),
        (
            P("Robert", "Brown", "1962-02-10", "19104", "M"),
            P("Robert", "Brown Jr", "1990-05-22", "19104", "M"),
            ("dob_conflict",),
            "",
        ),
        (
            P("William", "Harris III", "1980-03-03", "23220", "M", "wh3@example.com"),
            P("William", "Harris II", "1955-11-19", "23220", "M", "wh2@example.com"),
            ("suffix_conflict", "dob_conflict"),
            "",
        ),
        (
            P("Mary", "Wilson", "1950-04-12", "44106", "F", phone="216-555-0190"),
            P("Mary", "Wilson", "1978-09-30", "44106", "F", phone="216-555-0190"),
            ("dob_conflict",),
            "mother and daughter sharing a landline",
        ),
        (
            P("James", "Carter", "1947-03-15", "31201", "M", phone="478-555-0112"),
            P("James", "Carter Jr", "1974-03-15", "31201", "M", phone="478-555-0112"),
            ("possible_parent_child",),
            "year transposition with a suffix on one side",
        ),
        (
            P("George", "Lee Sr.", "1960-08-08", "96816", "M"),
            P("George", "Lee", "1988-01-14", "96816", "M"),
            ("dob_conflict",),
            "",
        ),
        (
            P("David", "Kim", "1958-11-02", "90010", "M"),
            P("David", "Kim", "1985-11-02", "90010", "M"),
            ("possible_parent_child",),
            "year transposition without email and phone",
        ),
        (
            P("Michael", "Jordan Jr.", "1988-02-17", "27514", "M", "mj@example.com"),
            P("Michael", "Jordan", "1963-02-17", "27514", "M", "mj@example.com"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Thomas", "Wright", "1952-09-25", "37215", "M", phone="615-555-0160"),
            P("Thomas", "Wright", "1925-09-25", "37215", "M", phone="615-555-0160"),
            ("possible_parent_child",),
            "year transposition, shared household phone only",
        ),
    ],
    # --- never close: siblings -----------------------------------------------------------
    "none_siblings": [
        (
            P("Liam", "Smith", "2012-03-03", "02140", "M", "smithhome@example.com"),
            P("Noah", "Smith", "2015-08-19", "02140", "M", "smithhome@example.com"),
            ("first_name_conflict", "dob_conflict"),
            "",
        ),
        (
            P("Sophia", "Martinez", "2009-06-01", "85281", "F"),
            P("Sofia", "Martinez", "2011-02-14", "85281", "F"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Emma", "Brown", "2010-03-04", "60201", "F", phone="847-555-0122"),
            P("Emily", "Brown", "2012-04-03", "60201", "F", phone="847-555-0122"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Jaden", "Smith", "2010-01-15", "30309", "M", "smithfam@example.com"),
            P("Jayden", "Smith", "2010-10-15", "30309", "M", "smithfam@example.com"),
            ("first_name_one_edit",),
            "born nine months apart: month digits look transposed",
        ),
        (
            P("J.", "Walker", "1992-05-05", "46202", "M"),
            P("John", "Walker", "1995-02-11", "46202", "M"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Ava", "Davis", "2006-09-12", "32207", "F", phone="904-555-0183"),
            P("Eva", "Davis", "2004-01-29", "32207", "F", phone="904-555-0183"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Michael", "Turner", "1990-07-07", "64111", "M"),
            P("Mitchell", "Turner", "1993-07-07", "64111", "M"),
            ("possible_sibling",),
            "",
        ),
        (
            P("Grace", "Lin", "2001-04-21", "94539", "F", "lins@example.com"),
            P("Hope", "Lin", "2003-04-21", "94539", "F", "lins@example.com"),
            ("first_name_conflict",),
            "",
        ),
        (
            P("Caleb", "Ward", "1999-12-01", "40508", "M", "wards@example.com"),
            P("Carter", "Ward", "2002-12-10", "40508", "M", "wards@example.com"),
            ("first_name_conflict",),
            "",
        ),
    ],
    # --- never close: spouses ------------------------------------------------------------
    "none_spouses": [
        (
            P("John", "Doe", "1980-02-02", "02139", "M", "does@example.com", "617-555-0100"),
            P("Jane", "Doe", "1982-06-17", "02139", "F", "does@example.com", "617-555-0100"),
            ("gender_conflict",),
            "",
        ),
        (
            P("Chris", "Taylor", "1975-03-11", "37205", "M", "taylors@example.com"),
            P("Christine", "Taylor", "1977-10-03", "37205", "F", "taylors@example.com"),
            ("gender_conflict", "dob_conflict"),
            "nickname-related names",
        ),
        (
            P("Alex", "Morgan", "1989-01-01", "97209", email="morgans@example.com"),
            P("Alexandra", "Morgan", "1990-05-05", "97209", email="morgans@example.com"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Pat", "Murphy", "1970-07-17", "02127", phone="617-555-0181"),
            P("Patricia", "Murphy", "1972-12-04", "02127", phone="617-555-0181"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Mark", "Anderson", "1984-11-30", "94114", "M", "andersons@example.com"),
            P("Matt", "Anderson", "1983-08-15", "94114", "M", "andersons@example.com"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Sam", "Lee", "1986-04-04", "10024", "M", "lees@example.com"),
            P("Samantha", "Lee", "1986-04-04", "10024", "F", "lees@example.com"),
            ("gender_conflict",),
            "same birthday, nickname-related names",
        ),
        (
            P("Tuan", "Nguyen", "1978-10-05", "77072", "M", phone="281-555-0142"),
            P("Kim", "Nguyen", "1980-03-22", "77072", "F", phone="281-555-0142"),
            ("first_name_conflict",),
            "",
        ),
        (
            P("Paul", "Okoro", "1991-09-09", "20011", "M", "okoros@example.com"),
            P("Grace", "Okoro", "1991-09-09", "20011", "F", "okoros@example.com"),
            ("first_name_conflict",),
            "same birthday",
        ),
    ],
    # --- none: common names, different people --------------------------------------------
    "none_common_name": [
        (
            P("John", "Smith", "1980-01-01", "02139", "M"),
            P("John", "Smith", "1975-06-12", "02139", "M"),
            ("dob_conflict",),
            "",
        ),
        (
            P("John", "Smith", "1980-01-01", "02139", "M"),
            P("John", "Smith", "1980-01-01", "98103", "M"),
            ("below_threshold",),
            "same name and DOB only: not enough",
        ),
        (
            P("Maria", "Garcia", "1990-05-20", "78501", "F", "mgarcia1@example.com"),
            P("Maria", "Garcia", "1986-02-11", "78501", "F", "mgarcia2@example.com"),
            ("dob_conflict",),
            "",
        ),
        (
            P("James", "Johnson", "1965-07-04", "60616"),
            P("James", "Johnson", "1971-12-25", "30318"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Michael", "Williams", "1988-08-08", "10027", "M", "mw1@example.com"),
            P("Michael", "Williams", "1988-08-08", "11215", "M", "mw2@example.com"),
            ("below_threshold",),
            "",
        ),
        (
            P("Mary", "Smith", "1955-03-03", "44102", "F", phone="216-555-0111"),
            P("Mary", "Smith", "1955-03-03", "43215", "F", phone="614-555-0199"),
            ("below_threshold",),
            "",
        ),
        (
            P("David", "Lee", "1992-02-29", "94105", "M"),
            P("David", "Lee", "1992-12-29", "94105", "M"),
            ("dob_conflict",),
            "",
        ),
        (
            P("John", "Smith", "1980-01-01", "02139", "M"),
            P("John", "Smith", "1980-01-07", "98103", "M"),
            ("below_threshold",),
            "the commonest name, a DOB digit off and another ZIP: 13 bits, odds 1:100",
        ),
    ],
    # --- none: unrelated people ----------------------------------------------------------
    "none_unrelated": [
        (
            P("Alice", "Walker", "1944-02-09", "30303", "F"),
            P("Bruno", "Mars", "1985-10-08", "96815", "M"),
            ("first_name_conflict", "last_name_conflict", "dob_conflict"),
            "",
        ),
        (
            P("Nina", "Simone", "1933-02-21", "28752", "F", "nina@example.com"),
            P("Ella", "Fitzgerald", "1917-04-25", "23607", "F", "ella@example.com"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Kofi", "Mensah", "1979-06-30", "10451", "M", phone="718-555-0140"),
            P("Aroha", "Ngata", "1992-01-16", "98118", "F", phone="206-555-0166"),
            ("gender_conflict",),
            "",
        ),
        (
            P("Wei", "Zhang", "1986-09-09", "11354"),
            P("Li", "Wang", "1986-09-09", "11354"),
            ("first_name_conflict",),
            "same DOB and zip, nothing else",
        ),
        (
            P("Hiro", "Sato", "2001-01-01", "96817", "M"),
            P("Kenji", "Sato", "1970-07-07", "96822", "M"),
            ("dob_conflict",),
            "",
        ),
        (
            P("Ruth", "Bader", "1933-03-15", "10011", "F", "rb@example.com"),
            P("Ruth", "Baden", "1963-03-15", "10011", "F", "ruthb@example.com"),
            ("possible_parent_child",),
            "",
        ),
        (
            P("Samuel", "Jackson", "1948-12-21", "37201", "M"),
            P("Samuel", "Johnson", "1948-12-21", "37201", "M"),
            ("last_name_conflict",),
            "",
        ),
        (
            P("Oscar", "Wilde", "1954-10-16", "02108"),
            P("Oscar", "Wild", "1954-10-16", "94108"),
            ("no_corroboration",),
            "",
        ),
        (
            P("Frida", "Kahlo", "1907-07-06", "60608", "F"),
            P("Diego", "Rivera", "1886-12-08", "60608", "M"),
            ("gender_conflict",),
            "",
        ),
        (
            P("Ada", "Lovelace", "1985-12-10", "02139", "F", "ada@example.com"),
            P("Grace", "Hopper", "1985-12-09", "02139", "F", "grace@example.com"),
            ("dob_conflict",),
            "",
        ),
    ],
    # --- none: close-looking, but not enough evidence ------------------------------------
    "none_insufficient": [
        (
            P("Jonh", "Miller", "1980-05-06", "19103", "M"),
            P("John", "Miller", "1980-05-21", "19103", "M"),
            ("dob_conflict",),
            "a typo and an unexplained DOB",
        ),
        (
            P("Micheal", "Brown", "1977-08-21", "75201", "M"),
            P("Michael", "Brown", "1977-08-12", "75201", "M"),
            ("too_many_differences",),
            "a typo and a transposed DOB without email or phone",
        ),
        (
            P("Emma", "Johnson", "1990-03-08", "02144", "F", "emma.j@example.com"),
            P("Emma", "Williams", "1990-03-08", "02155", "F", "emma.j@example.com"),
            ("last_name_conflict",),
            "name change backed by email alone",
        ),
        (
            P("Linda", "Park", "1958-07-04", "90006", "F", "lpark@example.com"),
            P("Linda", "Park", "1985-07-04", "90006", "F", "lpark@example.com"),
            ("possible_parent_child",),
            "year transposition backed by email alone",
        ),
        (
            P("Ana", "Garcia", "1986-07-07", "33125", "F"),
            P("Ana", "Garcia-Lopez", "1986-07-07", "33152", "F"),
            ("too_many_differences",),
            "surname part and zip typo, no email or phone",
        ),
        (
            P("J.", "Smith", "1975-05-05", "02139", "M", "jsmith@example.com"),
            P("John", "Smith", "1975-05-05", "02139", "M", "jsmith@example.com"),
            ("first_name_initial_only",),
            "an initial does not identify",
        ),
        (
            P("Jonh", "Smyth", "1983-10-10", "06511", "M"),
            P("John", "Smith", "1983-10-10", "06511", "M"),
            ("too_many_differences",),
            "",
        ),
        (
            P("Rachel", "Green", "1985-03-12", "10014", "F", "rgreen@example.com"),
            P("Rachel", "Green", "1985-03-13", "10014", "F", "rgreen@example.com"),
            ("dob_conflict",),
            "one digit off in the day: could be twins born either side of midnight",
        ),
        (
            P("Peter", "Novak", "1972-01-01", "60201", "M"),
            P("Peter", "Novak", "1972-01-01", "", "M"),
            ("no_corroboration",),
            "zip missing and no email or phone",
        ),
        (
            P("Bill", "Clark", "1952-04-17", "43215", "M", "bill@example.com"),
            P("William", "Clark", "1952-04-17", "43215", "M", "will.clark@example.com"),
            ("possible_twin",),
            "nickname with two different emails",
        ),
    ],
    # --- none: gender conflict is decisive -----------------------------------------------
    "none_gender_conflict": [
        (
            P("Jordan", "Lee", "1995-05-05", "90210", "M", "jlee@example.com"),
            P("Jordan", "Lee", "1995-05-05", "90210", "F", "jlee@example.com"),
            ("gender_conflict",),
            "",
        ),
        (
            P("Casey", "Morgan", "2000-10-10", "80203", "female"),
            P("Casey", "Morgan", "2000-10-10", "80203", "male"),
            ("gender_conflict",),
            "",
        ),
        (
            P("Taylor", "Reed", "1993-01-13", "02111", "woman", phone="617-555-0144"),
            P("Taylor", "Reed", "1993-01-13", "02111", "M", phone="617-555-0144"),
            ("gender_conflict",),
            "",
        ),
        (
            P("Francis", "Doyle", "1966-06-16", "02130", "M"),
            P("Frances", "Doyle", "1966-06-16", "02130", "F"),
            ("gender_conflict",),
            "",
        ),
    ],
}


# Labelled none under the old difference budget, close under issue 13, which asks for
# recall on exactly these shapes (one-digit DOB typo, transposition, married name with an
# email or phone, compound surname, typo-level names). The ids and holdout split stay.
RELABELLED: dict[str, tuple[str, str]] = {
    "none_insufficient-02": ("close", "typo-level: name slip and DOB transposition, same ZIP"),
    "none_insufficient-03": ("close", "married surname with matching email"),
    "none_insufficient-04": ("close", "DOB transposition backed by the email"),
    "none_insufficient-05": ("close", "compound surname, ZIP one digit off"),
    "none_insufficient-07": ("close", "typo-level: both names one slip off, DOB and ZIP equal"),
    "none_insufficient-08": ("close", "one-digit DOB typo with the same email"),
    "none_insufficient-09": ("close", "names and DOB equal, ZIP missing: absence is no evidence"),
    "none_common_name-07": ("close", "one-digit DOB typo in the same ZIP (Feb/Dec)"),
    "none_unrelated-08": ("close", "same DOB, surname one letter off, moved: 25 bits"),
    # Issue 13's cost-based threshold (16.6 bits: close at posterior odds 1:10, a missed
    # match costing a duplicate chart, a wrong close between strangers a review). Same
    # names and DOB, another ZIP: the model's posterior says one person who moved, more
    # likely than not, even for the commonest name (another John Smith born that day is
    # about 1 in 200 among a million persons). The code goes to the phone on the record,
    # which a stranger does not hold; with no phone there, staff review the pair.
    "none_common_name-02": ("close", "same name and DOB, moved: 22.6 bits, odds 6:1"),
    "none_common_name-05": ("close", "same name and DOB, moved, new email: 21.6 bits, 3:1"),
    "none_common_name-06": ("close", "same name and DOB, moved, new phone: 20.5 bits, 1.5:1"),
}


def _build() -> tuple[Case, ...]:
    cases: list[Case] = []
    for category, rows in _RAW.items():
        expected = "exact" if category == "exact" else category.split("_", 1)[0]
        for index, (a, b, reasons, note) in enumerate(rows, start=1):
            case_id = f"{category}-{index:02d}"
            relabel = RELABELLED.get(case_id)
            cases.append(
                Case(
                    id=case_id,
                    category=category,
                    expected=relabel[0] if relabel else expected,
                    a=a,
                    b=b,
                    reasons=() if relabel else reasons,
                    holdout=index % 3 == 0,
                    note=f"{note} (relabelled: {relabel[1]})" if relabel else note,
                )
            )
    return tuple(cases)


CASES: tuple[Case, ...] = _build()

# Answered differently from the label: the residual risks the matcher's docstring accepts.
# Tests mark them xfail(strict=True), so a change in behaviour is noticed either way.
KNOWN_MISSES: dict[str, str] = {
    "none_twins-03": "John/Jon: the nickname list relates them; twins sharing email and phone",
    "none_twins-04": "Mary/Marie: the nickname list relates them; twins sharing a parent's email",
    "none_twins-17": "Mary/Marilyn: the nickname list relates them; twins share a parent's email",
    "none_parent_child-09": "1952/1925 with the household phone: one-digit DOB recall wins",
    "none_parent_child-07": "1958/1985 with no email or phone on either record: since issue "
    "13's recall work a mistyped year is read as likelier than a parent and child of one name "
    "born on the same day of the year; with no phone on the record, staff review the close",
}
