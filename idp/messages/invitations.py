"""Texts for practice invitations: the activation pages, "resend my code", the API and CLI.

Field problems found when a practice creates an invitation have stable codes
(:func:`idp.flows.invitations.check_invitation`); the API returns the codes and the
text ``invitation_field_<code>`` as the description, the CLI prints the text.
"""

from __future__ import annotations

from idp.i18n import N_

MESSAGES: dict[str, str] = {
    # activation pages
    "invitation_code_prompt": (
        N_(
            "Enter the activation code from the invitation email your practice sent you. "
            "Your activation code is not your password or your medical record number."
        )
    ),
    "invitation_code_malformed": (
        N_(
            "That does not look like an activation code. Copy it from the invitation email "
            "exactly, or open the “Sign up for an account” link in the email."
        )
    ),
    "invitation_verify_prompt": (
        N_(
            "To activate your invitation, confirm your date of birth and zip code as your "
            "practice has them."
        )
    ),
    # The one reply for a wrong date of birth or zip and for any code that cannot be
    # used (unknown, expired, revoked, already used, locked): security invariant 4.
    "invitation_not_valid": (
        N_(
            "We could not activate an invitation with these details. Check your date of birth "
            "and zip code and try again. If you have tried several times, wait 15 minutes. "
            "Invitations expire and work only once: you can ask for a new activation code, or "
            "contact your practice."
        )
    ),
    "invitation_flow_expired": (
        N_(
            "This page has expired. Open the “Sign up for an account” link in your invitation "
            "email again."
        )
    ),
    "invitation_no_longer_valid": (
        N_(
            "This invitation can no longer be used: it expired, was withdrawn by your practice, "
            "or was already used. You can ask for a new activation code, or contact your practice."
        )
    ),
    "invitation_dob_invalid": (
        N_(
            "Enter your date of birth as year-month-day (for example 1980-04-30) "
            "or month/day/year (04/30/1980)."
        )
    ),
    "invitation_zip_invalid": N_("Enter a 5-digit zip code, or a ZIP+4 code such as 02139-4307."),
    "invitation_email_invalid": N_("Enter one email address, such as name@example.org."),
    "invitation_choose_prompt": (
        N_(
            "If you already have an account with {service_name} (perhaps from another practice), "
            "sign in with it: one user ID and password work for all your practices. "
            "Otherwise, create your account."
        )
    ),
    "invitation_email_in_use": (
        N_(
            "An account already uses the email address this invitation was sent to. If it is "
            "yours, sign in with it to add this practice. If it belongs to someone else, such as "
            "a family member, ask your practice to send the invitation to your own email "
            "address: every patient needs their own account, and accounts cannot be shared."
        )
    ),
    "invitation_other_person": (
        N_(
            "This account belongs to someone else: its date of birth is not the one on this "
            "invitation. Every patient needs their own account, and accounts cannot be shared. "
            "Create a new account for the patient instead."
        )
    ),
    "invitation_setup_first": (
        N_(
            "Your account still has a temporary password. Sign in on the sign-in page to choose "
            "your own password, then open the invitation link again."
        )
    ),
    "invitation_link_conflict": (
        N_(
            "This practice's record cannot be added to this account because the account, or the "
            "record, is already linked to another one at the same practice. Please contact your "
            "practice."
        )
    ),
    "invitation_username_invalid": (
        N_("Choose a user ID of 3 to 64 characters, using only letters, digits and . _ - @")
    ),
    "invitation_username_taken": N_("That user ID is already taken. Please choose another one."),
    "invitation_terms_not_accepted": (
        N_("Please read and accept the terms of use to create your account.")
    ),
    "invitation_done": (
        N_(
            "You're all set: your account is linked to {practice}. Go back to your practice's "
            "portal and sign in with your user ID and password."
        )
    ),
    # resend my activation code
    "invitation_resend_prompt": (
        N_(
            "Enter the email address your practice sent the invitation to and your date of "
            "birth. If an invitation is waiting for you, we will email you a new activation code."
        )
    ),
    "invitation_resend_sent": (
        N_(
            "If an invitation is waiting for these details, we have emailed a new activation "
            "code to that address. Codes sent before no longer work. If nothing arrives, check "
            "your spam folder, or contact your practice."
        )
    ),
    # creating invitations (API descriptions, CLI errors)
    "invitation_field_patient_id_required": N_("patient_id is required."),
    "invitation_field_patient_id_too_long": N_("patient_id can have at most 64 characters."),
    "invitation_field_patient_id_invalid": N_("patient_id must be printable, without spaces."),
    "invitation_field_first_name_required": N_("first_name is required."),
    "invitation_field_first_name_too_long": N_("first_name can have at most 100 characters."),
    "invitation_field_first_name_invalid": N_("first_name contains characters we cannot accept."),
    "invitation_field_last_name_required": N_("last_name is required."),
    "invitation_field_last_name_too_long": N_("last_name can have at most 100 characters."),
    "invitation_field_last_name_invalid": N_("last_name contains characters we cannot accept."),
    "invitation_field_dob_required": N_("dob is required."),
    "invitation_field_dob_invalid": N_("dob must be a real date as YYYY-MM-DD, after 1900-01-01."),
    "invitation_field_dob_in_future": N_("dob cannot be in the future."),
    "invitation_field_dob_under_min_age": (
        N_(
            "The patient is younger than the minimum age for an account; give a parent or "
            "guardian proxy access instead."
        )
    ),
    "invitation_field_zip_required": N_("zip is required."),
    "invitation_field_zip_invalid": N_("zip must be 5 digits or ZIP+4 (12345-6789)."),
    "invitation_field_gender_required": N_("gender is required (use unknown if not recorded)."),
    "invitation_field_gender_invalid": N_("gender must be female, male, other or unknown."),
    "invitation_field_email_required": N_("email is required."),
    "invitation_field_email_invalid": N_(
        "email must be one plain address such as name@example.org."
    ),
    "invitation_field_unknown_field": N_("This field is not part of an invitation."),
    "invitation_field_duplicate_field": N_("This field appears more than once."),
    "invitation_field_invalid_type": N_("This field must be a string."),
}
