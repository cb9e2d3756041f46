"""Texts for recovery pages and emails (forgot user ID, forgot password, reset links)."""

from __future__ import annotations

from idp.i18n import N_

MESSAGES: dict[str, str] = {
    # input problems (the same for every account, known or not)
    "recovery_email_invalid": (
        N_("Enter the email address you use for your account, such as name@example.org.")
    ),
    "recovery_dob_invalid": (
        N_(
            "Enter your date of birth as year-month-day (for example 1980-04-30) "
            "or month/day/year (04/30/1980)."
        )
    ),
    "recovery_username_invalid": N_("Enter your user ID."),
    "recovery_answer_missing": N_("Enter the answer to your security question."),
    "recovery_password_missing": N_("Enter a new password."),
    "recovery_password_mismatch": N_("The two passwords you entered are not the same."),
    "recovery_password_refused": N_("Please choose a different password:"),
    # neutral replies: they never say whether an account matched (security invariant 4)
    "recovery_id_sent": (
        N_(
            "If the details you entered match an account, we have emailed its user ID to the "
            "address on file. It can take a few minutes to arrive; check your spam folder too."
        )
    ),
    "recovery_reset_sent": (
        N_(
            "If the details you entered match an account, we have emailed the address on file. "
            "Open the email and follow it to finish. Until you do, your current password "
            "keeps working."
        )
    ),
    "recovery_reset_link_sent": (
        N_(
            "If the user ID you entered matches an account, we have emailed a link to choose "
            "a new password to the address on file. The link works once and expires soon."
        )
    ),
    # limits (the same for every account, known or not)
    "recovery_locked": (
        N_(
            "Too many attempts. For your security, please wait 15 minutes and try again, "
            "or contact support."
        )
    ),
    "recovery_too_many_requests": (
        N_("Too many requests from your network. Please wait a few minutes and try again.")
    ),
    "recovery_flow_expired": N_("This page has expired. Please start again."),
    # links
    "recovery_link_invalid": (
        N_(
            "This link has expired or has already been used. You can ask for a new one with "
            "“Forgot your password?” on the sign-in page."
        )
    ),
    "recovery_password_refused_earlier": (
        N_(
            "The password you chose before contains your name, user ID or email address, so "
            "please choose another one here."
        )
    ),
    "recovery_password_changed": (
        N_(
            "Your password has been changed and you have been signed out everywhere. "
            "Sign in with your new password."
        )
    ),
    "recovery_reset_cancelled": (
        N_(
            "We cancelled the reset: your password has not changed, and we have emailed you "
            "a note. If someone else may read your email, change your email password too."
        )
    ),
    "recovery_second_factor_required": (
        N_("To finish resetting your password, confirm it is you with your second factor.")
    ),
}
