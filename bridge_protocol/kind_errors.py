"""The error codes each job kind is documented to give (PROTOCOL.md sections 5 and 6, PLATFORM.md
section 4): in the failed job's ``error.code``, or in the ``error`` of one file of its result.

One list for the documents (``x-kinds.<kind>.errors`` of the schema, ``JobKinds`` of
``js/protocol.d.ts``) and for the test that every one of them is produced by at least one test
(tests/unit/test_error_coverage.py). Codes any kind may give (``INVALID_PARAMS`` for params the
kind refuses, ``JOB_INTERRUPTED`` after an agent stop) are in ``ANY_KIND``; ``INTERNAL_ERROR`` is the
unexpected failure, which no test may produce (the hostile-input tests assert it never appears).
"""

from __future__ import annotations

from .errors import ErrorCode as E

#: Codes every kind may end with.
ANY_KIND: tuple[E, ...] = (E.INVALID_PARAMS, E.JOB_INTERRUPTED)

#: kind -> code -> when.
KIND_ERRORS: dict[str, dict[E, str]] = {
    "diagnose": {},
    "sign": {
        E.USER_CANCELLED: "the user refused the consent",
        E.PIN_INCORRECT: "wrong PIN or password (the user gave up at the second chance)",
        E.PIN_LOCKED: "the token locked after wrong PINs (each try asked again in the agent's UI)",
        E.PIN_REQUIRED: "an empty PIN (refused before the token sees it)",
        E.TOKEN_REMOVED: "the token was removed during the batch",
        E.KEY_USAGE_NOT_SIGNING: "the certificate's key usage does not allow signing (before consent and PIN)",
        E.ORIGIN_NOT_ALLOWED: "a document `url` or the `upload_url` outside the page's origin",
        E.PLATFORM_UNREACHABLE: "(per file) the platform refused the signed file at `upload_url`",
    },
    "verify": {
        E.FILE_UNREADABLE: "(per file in a batch) the file cannot be read as any format",
        E.FILE_NOT_FOUND: "(per file in a batch) a handle that does not exist",
        E.FILE_TOO_LARGE: "the verification went past the worker's memory or time",
        E.ORIGIN_NOT_ALLOWED: "a `url` outside the page's origin",
    },
    "decrypt": {
        E.NO_MATCHING_RECIPIENT: "none of the user's keys is a recipient",
        E.DECRYPTION_FAILED: "(per file) wrong key, bad padding or bad tag",
        E.UNSUPPORTED_ALGORITHM: "(per file) an algorithm the agent does not open",
        E.FILE_UNREADABLE: "(per file) not a CMS envelope",
        E.ARCHIVE_UNSAFE: "(per file) zip-slip, zip bomb or too many entries with `extract`",
    },
    "keygen": {
        E.ORIGIN_NOT_ALLOWED: "`register_url` outside the page's origin (before anything is generated)",
        E.USER_CANCELLED: "the user refused the consent",
        E.PIN_REQUIRED: "no password for the new PKCS#12 file",
    },
    "bids.download": {
        E.PLATFORM_UNREACHABLE: "the platform did not answer, refused the token or broke the descriptor's rules",
        E.FILE_NOT_FOUND: "(per file) 404 or 410 on a file",
        E.FILE_UNREADABLE: "(per file) the SHA-256 differs",
        E.FILE_TOO_LARGE: "not enough disk space",
        E.ORIGIN_NOT_ALLOWED: "a URL or a redirect outside the page's origin",
    },
    "bids.open": {
        E.NO_MATCHING_RECIPIENT: "(per file) not sealed to the user's key",
        E.DECRYPTION_FAILED: "(per file) damaged, or a wrong tag",
        E.PLATFORM_UNREACHABLE: "the platform refused an opened file, or did not answer",
        E.ORIGIN_NOT_ALLOWED: "a URL or `result_url` outside the page's origin",
        E.USER_CANCELLED: "the user refused the consent",
    },
    "encrypt": {
        E.KEY_USAGE_NOT_ENCRYPTION: "a recipient's key usage does not allow encryption",
        E.ORIGIN_NOT_ALLOWED: "`upload_url` outside the page's origin",
    },
}
