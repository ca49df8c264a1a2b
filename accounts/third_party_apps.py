"""Third-party apps under names people read in the admin, in their language.

Kept out of accounts/apps.py: a module with several AppConfig classes would no longer
give Django accounts' own config by default.
"""

from axes import apps as axes_apps
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.apps import DefaultConfig as TotpDefaultConfig


class AxesConfig(axes_apps.AppConfig):
    """django-axes with a name people read in the admin (it ships no Chinese)."""

    verbose_name = _("Sign-in lockouts")


class TotpConfig(TotpDefaultConfig):
    """django-otp's TOTP devices, named for people: its model's names are not marked for
    translation, so they are set here."""

    verbose_name = _("Two-factor sign-in")

    def ready(self) -> None:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        TOTPDevice._meta.verbose_name = _("authenticator app")
        TOTPDevice._meta.verbose_name_plural = _("authenticator apps")
        for name, label in _TOTP_FIELDS.items():
            TOTPDevice._meta.get_field(name).verbose_name = label


_TOTP_FIELDS = {
    "user": _("person"),
    "name": _("name"),
    "confirmed": _("confirmed"),
    "created_at": _("created"),
    "last_used_at": _("last used"),
    "throttling_failure_timestamp": _("last wrong code"),
    "throttling_failure_count": _("wrong codes in a row"),
    "key": _("secret key"),
    "step": _("time step (seconds)"),
    "t0": _("start time (t0)"),
    "digits": _("digits"),
    "tolerance": _("tolerance (steps)"),
    "drift": _("clock drift (steps)"),
    "last_t": _("last time step used"),
}

# Its help texts are plain English too; its admin form takes these (accounts.admin.two_factor;
# set on the model fields, they would ask for a migration of django-otp's app).
TOTP_HELP = {
    "user": _("The person this device belongs to."),
    "name": _("A name to tell the device by."),
    "confirmed": _("Ready for use: the person entered a code from it."),
    "created_at": "",
    "last_used_at": "",
    "throttling_failure_timestamp": _("When the last wrong code came; empty after a right one."),
    "throttling_failure_count": _("Wrong codes since the last right one."),
    "key": _("The shared secret, in hex (up to 40 bytes)."),
    "step": _("How long each code lasts, in seconds."),
    "t0": _("The Unix time codes are counted from."),
    "digits": _("How many digits a code has."),
    "tolerance": _("How many time steps early or late a code may be."),
    "drift": _("How many time steps the app's clock is known to be off."),
    "last_t": _("The time step of the last code accepted; the next must be later."),
}

# The sections of its admin form, named in English by django-otp's admin.
TOTP_FIELDSETS = {
    "Identity": _("Device"),
    "Timestamps": _("Dates"),
    "Configuration": _("Settings"),
    "State": _("State"),
    "Throttling": _("Wrong codes"),
}
