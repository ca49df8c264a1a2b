"""The accounts admin: importing each module registers its ModelAdmins with the site."""

# Every admin here is an interface over accounts.services and accounts.quota. No
# quota row is ever saved from a form: every edit and bulk action calls a service that
# locks the row and writes only the columns it changes (plus an audit row), so a
# concurrent request's `used`/`reserved` can't be overwritten.

from accounts.admin import (  # noqa: F401
    api_keys,
    audit,
    channels,
    governance,
    people,
    quotas,
    single_sign_on,
    two_factor,
)
