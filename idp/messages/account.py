"""Texts for the "My account" pages and their emails.

``MESSAGES`` holds page-level messages (shown with ``data-message-id``); IDs
start with ``account_`` so they never collide with another area's. The other
tables turn reason codes from policies and the audit log into words; they are
keyed by those codes, not by message IDs, and are not part of ``MESSAGES``.
"""

from __future__ import annotations

from idp.i18n import N_

MESSAGES: dict[str, str] = {
    # input refused before anything is checked (400, nothing written)
    "account_missing_fields": N_("Fill in every field."),
    "account_field_too_long": N_("One of the fields is too long."),
    "account_control_characters": N_("One of the fields contains characters that are not allowed."),
    # reauthentication (ASVS 7.5.1)
    "account_wrong_password": N_("Your current password is not correct."),
    # the account changed under this page (closed or locked meanwhile)
    "account_unavailable": N_("This account can no longer be changed. Please sign in again."),
    # profile
    "account_names_read_only": (
        N_(
            "Your name is used to match you with your practices' records, so it cannot be changed "
            "here. To correct it, please contact your practice."
        )
    ),
    "account_phone_invalid": N_("Enter a valid phone number."),
    "account_phone_changed": N_("Your phone number was saved."),
    # password
    "account_password_rejected": N_("Choose a different new password."),
    "account_password_mismatch": N_("The two new passwords do not match."),
    "account_password_changed": N_("Your password was changed."),
    "account_password_changed_others_ended": (
        N_("Your password was changed, and your other devices and apps were signed out.")
    ),
    # email
    "account_email_invalid": N_("Enter a valid email address, such as name@example.org."),
    "account_email_same": N_("That is already your email address."),
    "account_email_link_sent": (
        N_(
            "We sent a confirmation link to your new address. Your email address changes when you "
            "open it. Until then we keep using your current address."
        )
    ),
    "account_email_link_invalid": (
        N_("This link has expired or was already used. Please ask for a new one on the Email page.")
    ),
    "account_email_confirm": N_("Confirm that this is your new email address."),
    "account_email_changed": N_("Your email address was changed and confirmed."),
    # security questions
    "account_questions_rejected": N_("Please change the questions or answers below."),
    "account_questions_changed": N_("Your security questions were saved."),
    "account_questions_none": N_("You have no security questions yet."),
    # sessions
    "account_session_not_found": N_("That session had already ended."),
    "account_session_ended": N_("That device was signed out."),
    "account_signed_out_everywhere": (
        N_("You were signed out everywhere, including here. Sign in again to continue.")
    ),
    # activity
    "account_activity_none": N_("No sign-in activity yet."),
    # close
    "account_close_confirmation": N_("Type CLOSE in the box to confirm."),
    "account_close_warning": (
        N_(
            "Closing your account signs you out everywhere, disconnects every portal and app, and "
            "stops you from signing in again. Your records are kept for the period the law and "
            "your practices require; nothing is deleted now. Your practices' own records are not "
            "affected."
        )
    ),
    "account_closed": (
        N_(
            "Your account is closed. You have been signed out everywhere. "
            "We sent a confirmation to your email address."
        )
    ),
    # two-step verification (issue 9)
    "account_mfa_intro": (
        N_(
            "With two-step verification, signing in needs your password and a second step: a code "
            "from an authenticator app, or a passkey. Someone who learns your password still "
            "cannot get in."
        )
    ),
    "account_mfa_app_added": N_("Your authenticator app was added. Two-step verification is on."),
    "account_mfa_passkey_added": N_("Your passkey was added. Two-step verification is on."),
    "account_mfa_removed": N_("That second step was removed."),
    "account_mfa_off": (
        N_(
            "That was your last second step: two-step verification is off, and your recovery "
            "codes no longer work."
        )
    ),
    "account_mfa_renamed": N_("The name was saved."),
    "account_mfa_codes_regenerated": (
        N_("Here are your new recovery codes. The old ones no longer work.")
    ),
    "account_mfa_codes_once": (
        N_(
            "Keep these codes somewhere safe, such as printed at home. Each one signs you in once "
            "if you lose your phone or passkey. This is the only time we show them."
        )
    ),
    "account_mfa_codes_explained": (
        N_(
            "Recovery codes sign you in when your authenticator app or passkey is not at hand. "
            "Getting new codes makes every earlier code stop working."
        )
    ),
    "account_mfa_codes_need_factor": (
        N_(
            "Recovery codes come with two-step verification: add an authenticator app or a "
            "passkey first."
        )
    ),
    "account_mfa_code_malformed": N_("Enter the six-digit code your authenticator app shows."),
    "account_mfa_wrong_code": (
        N_(
            "That code is not right. Check that your phone's clock is correct and enter the code "
            "the app shows now."
        )
    ),
    "account_mfa_code_used": N_("That code was already used. Wait for the app to show a new one."),
    "account_mfa_expired": N_("This page has expired. Please start again."),
    "account_mfa_refused": N_("That did not work. Please start again."),
    "account_mfa_passkey_missing": (
        N_("Your browser did not create a passkey. Please try again, or use an authenticator app.")
    ),
    "account_mfa_passkey_refused": (
        N_("That passkey could not be checked, so it was not added. Please try again.")
    ),
    "account_mfa_passkey_known": N_("That passkey is already registered."),
    "account_mfa_passkey_needs_js": (
        N_(
            "Adding a passkey needs JavaScript, which is turned off in this browser. You can add "
            "an authenticator app instead."
        )
    ),
    "account_mfa_passkey_unsupported": (
        N_("This browser cannot create passkeys. You can add an authenticator app instead.")
    ),
    "account_mfa_passkey_cancelled": N_("No passkey was added. You can try again."),
    "account_mfa_label_invalid": N_("Enter a name of at most 64 characters."),
    "account_mfa_factor_not_found": N_("That second step was not found."),
}

# Why a phone number was refused (codes of idp.notify.phone.PhoneReason).
PHONE_REASONS: dict[str, str] = {
    "empty": "Enter a phone number.",
    "too_long_input": "The phone number is too long.",
    "not_a_number": "That does not look like a phone number.",
    "invalid_country_code": "The country code is not valid.",
    "too_short": "The number is too short; include the area code.",
    "too_long": "The number is too long.",
    "invalid_number": "That number does not exist; please check it.",
    "has_extension": "Enter a number without an extension.",
}

# Why a set of security questions was refused (codes of idp.policies.security_questions).
QUESTION_REASONS: dict[str, str] = {
    "wrong_question_count": "Answer every question.",
    "unknown_question": "Choose each question from the list.",
    "duplicate_question": "Choose a different question for each one.",
    "answer_too_short": "Each answer needs at least 3 letters or digits.",
    "answer_too_long": "Each answer can have at most 100 characters.",
    "answer_repeated": "Give a different answer to each question.",
    "answer_is_credential": "An answer must not be your user ID or password.",
    "custom_question_invalid": "Your own questions need 10 to 200 characters.",
}

# Sign-in activity: what each audit event type is called on the activity page.
ACTIVITY_LABELS: dict[str, str] = {
    "login": N_("Sign-in"),
    "login_refused": N_("Sign-in refused"),
    "logout": N_("Sign-out"),
    "account_locked": N_("Account locked"),
    "reauthentication": N_("Password check on the account page"),
    "password_changed": N_("Password changed"),
    "email_change_requested": N_("Email change requested"),
    "email_changed": N_("Email address changed"),
    "phone_changed": N_("Phone number changed"),
    "security_questions_changed": N_("Security questions changed"),
    "account_closed": N_("Account closed"),
    "second_factor_added": N_("Second step added"),
    "second_factor_removed": N_("Second step removed"),
    "second_factor_renamed": N_("Second step renamed"),
    "recovery_codes_regenerated": N_("New recovery codes"),
    "second_factors_reset": N_("Second steps removed by staff"),
}

# Reason codes recorded with those events, in words (anything else: outcome only).
ACTIVITY_REASONS: dict[str, str] = {
    "signed_in": N_("Signed in"),
    "invalid_credentials": N_("Wrong password"),
    "locked": N_("Refused: too many attempts"),
    "temporarily_locked": N_("Locked for a while after too many attempts"),
    "hard_cap": N_("Locked until reset after too many attempts"),
    "hard_locked": N_("Refused: account locked"),
}

# The sessions and activity pages name devices from their User-Agent.
DEVICE_TEXTS: dict[str, str] = {
    "unknown": "Unknown device",
    "format": "{browser} on {system}",
}
