"""Texts for signup pages and emails.

Refusal codes from the sign-up modules (:mod:`idp.policies.demographics`,
:mod:`idp.flows.registration`, :mod:`idp.flows.signup_phone`,
:mod:`idp.flows.signup_links`) and :mod:`idp.policies.security_questions` are shown
with the message ``signup_<code>``;
``{min_age}`` and ``{questions}`` are filled in by the page. Password reasons use
:func:`idp.policies.password.describe`, which knows the active preset.
"""

from __future__ import annotations

from idp.i18n import N_
from idp.policies.security_questions import (
    MAX_ANSWER,
    MAX_CUSTOM_QUESTION,
    MIN_ANSWER,
    MIN_CUSTOM_QUESTION,
)

# Limits filled into the texts above by idp.messages.message().
LIMITS = {
    "min_answer": MIN_ANSWER,
    "max_answer": MAX_ANSWER,
    "min_custom_question": MIN_CUSTOM_QUESTION,
    "max_custom_question": MAX_CUSTOM_QUESTION,
}

MESSAGES: dict[str, str] = {
    # step 1: about you
    "signup_first_name_required": N_("Enter your first name."),
    "signup_first_name_too_long": N_("Your first name can have at most 100 characters."),
    "signup_first_name_invalid": N_("Your first name contains characters we cannot accept."),
    "signup_last_name_required": N_("Enter your last name."),
    "signup_last_name_too_long": N_("Your last name can have at most 100 characters."),
    "signup_last_name_invalid": N_("Your last name contains characters we cannot accept."),
    "signup_dob_required": N_("Enter your date of birth."),
    "signup_dob_invalid": (
        N_(
            "Enter your date of birth as a real date in the form YYYY-MM-DD, "
            "for example 1984-03-09."
        )
    ),
    "signup_dob_in_future": N_("Your date of birth cannot be in the future."),
    "signup_dob_under_min_age": (
        N_(
            "You must be at least {min_age} years old to sign up online. Patients younger than "
            "{min_age} are enrolled by their practice: please ask the doctor's office, which can "
            "also give a parent or guardian access to the record."
        )
    ),
    "signup_zip_invalid": N_("Enter a 5-digit zip code, or a ZIP+4 code such as 02139-4307."),
    "signup_gender_invalid": N_("Choose one of the options for gender."),
    "signup_email_invalid": N_("Enter one email address, such as name@example.org."),
    # step 2: your account
    "signup_username_invalid": (
        N_("Choose a user ID of 3 to 64 characters, using only letters, digits and . _ - @")
    ),
    "signup_username_taken": N_("That user ID is already taken. Please choose another one."),
    "signup_terms_not_accepted": N_(
        "Please read and accept the terms of use to create your account."
    ),
    "signup_wrong_question_count": N_("Choose and answer {questions} security questions."),
    "signup_unknown_question": N_("Choose each question from the list, or write your own."),
    "signup_duplicate_question": N_("Choose a different question each time."),
    "signup_answer_too_short": N_("Each answer needs at least {min_answer} letters or digits."),
    "signup_answer_too_long": N_("Each answer can have at most {max_answer} characters."),
    "signup_answer_repeated": N_("Give a different answer to each question."),
    "signup_answer_is_credential": N_("An answer must not be your user ID or your password."),
    "signup_custom_question_invalid": (
        N_(
            "A question you write yourself needs {min_custom_question} to "
            "{max_custom_question} characters."
        )
    ),
    # pages
    "signup_flow_expired": (
        N_(
            "Your sign-up expired or was already finished, so we no longer have your details. "
            "Please start again."
        )
    ),
    "signup_check_email": (
        N_(
            "We sent a message to your email address. Follow the instructions in it to finish. "
            "If nothing arrives within a few minutes, check your spam folder."
        )
    ),
    # "verify by phone number": offered on the check-email page of every sign-up
    "signup_phone_offer": (
        N_(
            "You can also confirm your mobile phone number now: we will text it a 6-digit code. "
            "A confirmed number can be used to reach you about your account, and if you already "
            "have an account with us it lets us recognise you."
        )
    ),
    "signup_phone_invalid": (
        N_("Enter a mobile phone number with its area code, for example (617) 555-0123.")
    ),
    "signup_phone_code_sent": (
        N_(
            "We sent a text message with a 6-digit code to the number below. Enter the code to "
            "confirm the number. It works once, for 10 minutes. If no text arrives within a few "
            "minutes, check the number and ask for a new code."
        )
    ),
    "signup_code_invalid": N_("That code is not right. Check the text message and try again."),
    "signup_code_expired": N_("That code has expired. Ask for a new code below."),
    "signup_code_locked": (
        N_(
            "Too many wrong codes. Please try again later, or simply follow the instructions "
            "in the email we sent you."
        )
    ),
    "signup_phone_done": (
        N_(
            "Thank you: your phone number is confirmed. To finish, follow the instructions in "
            "the email we sent you."
        )
    ),
    "signup_existing_account": (
        N_(
            "You already have an account with us: the phone number you confirmed belongs to it, "
            "so we did not create a second one. Sign in with your user ID and password. If you "
            "do not remember them, we can send your user ID to the email address on your account "
            "or help you choose a new password."
        )
    ),
    "signup_verify_prompt": N_("Confirm your email address to finish creating your account."),
    "signup_choose_user_id": (
        N_(
            "Your email address is confirmed, but the user ID you chose was taken by someone "
            "else while your sign-up waited for this confirmation. Choose another user ID to "
            "finish creating your account; your password and everything else stay as you gave "
            "them."
        )
    ),
    "signup_verified": N_(
        "Your account is ready. You can now sign in with your user ID and password."
    ),
    "signup_link_invalid": (
        N_(
            "This link does not work: it was already used, it expired, or it was copied "
            "incompletely. You can ask for a new link."
        )
    ),
    "signup_resend_prompt": (
        N_(
            "Enter the email address you signed up with. If a sign-up there is waiting for you "
            "to confirm the address, we will send it a new link."
        )
    ),
    "signup_resend_sent": (
        N_(
            "If a sign-up is waiting for confirmation at that address, we sent a new link to it. "
            "Links sent before no longer work."
        )
    ),
    # sign-in page: shown only after the right password for a pending account (one made
    # by staff approving an enrollment; self sign-up creates the account with the link)
    "email_not_verified": (
        N_(
            "Your email address is not verified yet. Open the link in the email we sent you to "
            "finish creating your account."
        )
    ),
}
