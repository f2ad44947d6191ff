"""Unwrapping the exception groups trio's nurseries raise (strict exception groups)."""

from __future__ import annotations

from collections.abc import Iterator

import trio

# What every task using a connection sees once it breaks: consequences, not causes.
_CONNECTION_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def sole_exception(error: BaseException) -> BaseException:
    """The one exception a group stands for, or `error` itself.

    A nursery wraps even a lone failure in an exception group; callers that answer
    users want the protocol or I/O error inside it. When a connection breaks, every
    task using it fails at once (a sender's broken pipe, a receiver's reset): the one
    error that is not just the connection going away is the cause, and if all of them
    are, any one says it. A group holding a cancellation is returned whole, so that
    the cancellation still reaches its scope.
    """
    leaves = list(_leaves(error))
    if len(leaves) == 1:
        return leaves[0]
    if any(isinstance(leaf, trio.Cancelled) for leaf in leaves):
        return error
    causes = [leaf for leaf in leaves if not isinstance(leaf, _CONNECTION_GONE)]
    if not causes:
        return leaves[0]
    return causes[0] if len(causes) == 1 else error
