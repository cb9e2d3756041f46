"""Texts for sign-in, consent, logout and protocol error pages."""

from __future__ import annotations

from idp.i18n import N_

MESSAGES: dict[str, str] = {
    # sign-in
    "invalid_credentials": N_("The user ID or password you entered is incorrect."),
    "account_locked": (
        N_(
            "Too many sign-in attempts. For your security, please wait 15 minutes and try again, "
            "or use “Forgot password?” to reset it."
        )
    ),
    "missing_fields": N_("Enter your user ID and password."),
    "too_many_attempts": (
        N_("Too many sign-in attempts from your network. Please wait 15 minutes and try again.")
    ),
    "temporary_password_expired": (
        N_(
            "Your temporary password has expired. Use “Forgot your password?” or ask your "
            "practice for a new one."
        )
    ),
    "setup_expired": N_("This step expired. Please sign in again with your temporary password."),
    "setup_not_needed": N_("Your account is already set up. Please sign in."),
    "same_as_temporary": N_("Choose a password different from your temporary one."),
    "terms_not_accepted": N_("Please accept the terms of use to continue."),
    "signed_in": N_("You are signed in."),
    # second factor (issue 9)
    "second_factor_wrong_code": N_("That code is not right, or it was used already. Try again."),
    "second_factor_expired": N_("This sign-in step expired. Please sign in again."),
    "choose_record_expired": N_(
        "This step expired. Please go back to the portal and sign in again."
    ),
    "record_choice_invalid": N_("Choose one of the records listed."),
    "passkey_not_accepted": (
        N_(
            "That passkey did not sign you in. "
            "Try again, or sign in with your user ID and password."
        )
    ),
    "invalid_password": N_("That password is not right. Try again."),
    "mfa_enrolment_required": (
        N_(
            "This portal requires two-step verification. Set up an authenticator app or a "
            "passkey on your account page, then sign in again."
        )
    ),
    # staff console (issue 11)
    "staff_forbidden": N_("Your staff role does not include this page or action."),
    # consent
    "consent_denied": N_("You did not allow access."),
    # protocol errors shown as pages (never redirected)
    "missing_client_id": N_("The application that sent you here did not identify itself."),
    "unknown_client": N_("The application that sent you here is not registered with us."),
    "missing_redirect_uri": N_("The application that sent you here did not say where to return."),
    "unregistered_redirect_uri": (
        N_(
            "The application that sent you here asked to return to an address it has not "
            "registered, so we stopped here to protect you."
        )
    ),
    "repeated_parameter": N_("The request repeated a parameter; please go back to the portal."),
    "parameter_too_long": N_("The request was too long; please go back to the portal."),
    "too_many_parameters": N_("The request had too many parameters; please go back to the portal."),
    "interaction_expired": N_("This sign-in request expired. Please start again from your portal."),
    "invalid_logout_request": N_("This sign-out request is not valid, so we did not sign you out."),
    "logout_status_unknown": (
        N_("We no longer have the status of that sign-out. Signing out again is always safe.")
    ),
    "csrf_failed": N_("The form expired. Please go back and try again."),
    "bad_request": N_("The request could not be understood."),
    "not_found": N_("There is nothing at this address."),
    "method_not_allowed": N_("That method is not allowed here."),
    "request_too_large": N_("The request was too large."),
    "server_error": N_("Something went wrong on our side. Please try again in a minute."),
    "unavailable": N_("The service is temporarily unavailable. Please try again in a minute."),
}

# Scope descriptions for the consent page.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "openid": N_("Confirm that it is you when you sign in"),
    "profile": N_("Your name, date of birth and gender"),
    "email": N_("Your email address"),
    "phone": N_("Your phone number"),
    "address": N_("Your zip code"),
    "offline_access": N_("Stay connected when you are not using it"),
}
