"""Texts for sign-in, consent, logout and protocol error pages."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # sign-in
    "invalid_credentials": "The user ID or password you entered is incorrect.",
    "account_locked": (
        "Too many sign-in attempts. For your security, please wait 15 minutes and try again, "
        "or use “Forgot password?” to reset it."
    ),
    "missing_fields": "Enter your user ID and password.",
    "too_many_attempts": (
        "Too many sign-in attempts from your network. Please wait 15 minutes and try again."
    ),
    "temporary_password_expired": (
        "Your temporary password has expired. Use “Forgot your password?” or ask your "
        "practice for a new one."
    ),
    "setup_expired": "This step expired. Please sign in again with your temporary password.",
    "setup_not_needed": "Your account is already set up. Please sign in.",
    "same_as_temporary": "Choose a password different from your temporary one.",
    "terms_not_accepted": "Please accept the terms of use to continue.",
    "signed_in": "You are signed in.",
    # second factor (issue 9)
    "second_factor_wrong_code": "That code is not right, or it was used already. Try again.",
    "second_factor_expired": "This sign-in step expired. Please sign in again.",
    "mfa_enrolment_required": (
        "This portal requires two-step verification. Set up an authenticator app or a "
        "passkey on your account page, then sign in again."
    ),
    # consent
    "consent_denied": "You did not allow access.",
    # protocol errors shown as pages (never redirected)
    "missing_client_id": "The application that sent you here did not identify itself.",
    "unknown_client": "The application that sent you here is not registered with us.",
    "missing_redirect_uri": "The application that sent you here did not say where to return.",
    "unregistered_redirect_uri": (
        "The application that sent you here asked to return to an address it has not "
        "registered, so we stopped here to protect you."
    ),
    "repeated_parameter": "The request repeated a parameter; please go back to the portal.",
    "parameter_too_long": "The request was too long; please go back to the portal.",
    "too_many_parameters": "The request had too many parameters; please go back to the portal.",
    "interaction_expired": "This sign-in request expired. Please start again from your portal.",
    "invalid_logout_request": "This sign-out request is not valid, so we did not sign you out.",
    "logout_status_unknown": (
        "We no longer have the status of that sign-out. Signing out again is always safe."
    ),
    "csrf_failed": "The form expired. Please go back and try again.",
    "bad_request": "The request could not be understood.",
    "not_found": "There is nothing at this address.",
    "method_not_allowed": "That method is not allowed here.",
    "request_too_large": "The request was too large.",
    "server_error": "Something went wrong on our side. Please try again in a minute.",
    "unavailable": "The service is temporarily unavailable. Please try again in a minute.",
}

# Scope descriptions for the consent page.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "openid": "Confirm that it is you when you sign in",
    "profile": "Your name, date of birth and gender",
    "email": "Your email address",
    "phone": "Your phone number",
    "address": "Your zip code",
    "offline_access": "Stay connected when you are not using it",
}
