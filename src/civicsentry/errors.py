"""The one exception tree of CivicSentry.

    CivicSentryError                 base; every error the library raises on purpose
    ├── InputError                   the user's input is wrong (exit code 2)
    │   ├── BadInputFile             a file cannot be read at all (compression, encoding, format)
    │   ├── MissingColumns           a tabular file lacks columns the format needs
    │   ├── UnknownFormat            no adapter recognises a file, or --format names none
    │   ├── StrictModeViolation      --strict and a record had to be quarantined
    │   ├── InvalidParams            a parameter has the wrong value or type
    │   └── NotFound                 what was asked for does not exist or is not visible (404)
    ├── WorkspaceError               the workspace cannot be used as it is (exit code 3)
    │   └── SchemaVersionMismatch    made by a newer CivicSentry, or needs `civicsentry migrate`
    ├── BackendUnavailable           an optional dependency is not installed (exit code 4)
    ├── AuthenticationFailed         no valid credentials (401)
    ├── PermissionDenied             valid credentials, but the role does not allow it (403)
    ├── ShareCheckFailed             a bundle failed the checks every share must pass (exit code 5)
    └── PullFailed                   a partner's TAXII server refused or failed a pull (exit code 6)

Every class carries an ``exit_code`` for the CLI and an ``http_status`` for the web app;
every message says what to do about it.
"""

from __future__ import annotations


class CivicSentryError(Exception):
    exit_code = 1
    http_status = 500


class InputError(CivicSentryError):
    exit_code = 2
    http_status = 400


class BadInputFile(InputError):
    pass


class MissingColumns(InputError):
    pass


class UnknownFormat(InputError):
    pass


class StrictModeViolation(InputError):
    pass


class InvalidParams(InputError):
    pass


class WorkspaceError(CivicSentryError):
    exit_code = 3
    http_status = 409


class SchemaVersionMismatch(WorkspaceError):
    pass


class BackendUnavailable(CivicSentryError):
    exit_code = 4
    http_status = 501


class ShareCheckFailed(CivicSentryError):
    """A bundle failed the checks that every share must pass; nothing was shared."""

    exit_code = 5
    http_status = 500


class PullFailed(CivicSentryError):
    """A partner's TAXII server refused or failed the pull."""

    exit_code = 6
    http_status = 502


class NotFound(InputError):
    """The thing asked for does not exist (or is not visible to the asker)."""

    http_status = 404


class AuthenticationFailed(CivicSentryError):
    """No valid credentials: wrong password, unknown, revoked or expired token."""

    exit_code = 5
    http_status = 401


class PermissionDenied(CivicSentryError):
    """Valid credentials, but the role (or partner group) does not allow it."""

    exit_code = 5
    http_status = 403
