"""Email (SMTP) and SMS delivery through a transactional outbox (DESIGN.md, "notify/").

Flows call :class:`Notifier` inside their transaction; :class:`Dispatcher` sends
after the commit, retrying temporary failures. Senders: :class:`SmtpEmailSender`,
:class:`WebhookSmsSender`, and :class:`DevelopmentOutbox` for development.
"""

from .email import SmtpEmailSender, sender_domain
from .messages import (
    Channel,
    DeliveryError,
    Message,
    PermanentFailure,
    Sender,
    TemporaryFailure,
)
from .notifier import InvalidEmailAddress, Notifier, check_email_address
from .outbox import (
    DevelopmentOutbox,
    Dispatcher,
    DispatchReport,
    DispatchWorker,
    RetryRules,
    run_dispatch_loop,
)
from .phone import InvalidPhoneNumber, PhoneReason, normalize_phone
from .sms import SmsSender, WebhookSmsSender, verify_webhook_signature
from .templates import RenderedEmail, TemplateMissing, TemplateRenderer

__all__ = [
    "Channel",
    "DeliveryError",
    "DevelopmentOutbox",
    "DispatchReport",
    "DispatchWorker",
    "Dispatcher",
    "InvalidEmailAddress",
    "InvalidPhoneNumber",
    "Message",
    "Notifier",
    "PermanentFailure",
    "PhoneReason",
    "RenderedEmail",
    "RetryRules",
    "Sender",
    "SmsSender",
    "SmtpEmailSender",
    "TemplateMissing",
    "TemplateRenderer",
    "TemporaryFailure",
    "WebhookSmsSender",
    "check_email_address",
    "normalize_phone",
    "run_dispatch_loop",
    "sender_domain",
    "verify_webhook_signature",
]
