"""Unwrapping the exception groups trio's nurseries raise (strict exception groups)."""

from __future__ import annotations


def sole_exception(error: BaseException) -> BaseException:
    """The one exception inside nested single-member groups, or `error` itself.

    A nursery that runs a helper task wraps even a lone failure in an exception group;
    callers that answer users want the protocol or I/O error inside it.
    """
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
