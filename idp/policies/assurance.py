"""Authentication assurance values the ID token carries (OIDC Core §2 ``acr``, RFC 8176 ``amr``).

``acr`` is set only when a second factor was used: NIST SP 800-63B AAL2, under the
URI login.gov publishes for it (a value relying parties in US health care already
know). A client asks for it with ``acr_values``; discovery lists it.
"""

from __future__ import annotations

ACR_MFA = "http://idmanagement.gov/ns/assurance/aal/2"
ACR_VALUES_SUPPORTED = (ACR_MFA,)


def second_factor_requested(acr_values: str | None) -> bool:
    """Whether an authorization request's ``acr_values`` asks for a second factor."""
    return ACR_MFA in (acr_values or "").split()
