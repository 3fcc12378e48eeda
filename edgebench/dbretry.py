"""Creating a database's tables when another process may be creating them too (the results store,
the hub database): the loser of that race sees "already exists" or "database is locked" and tries
again, a little later."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

ATTEMPTS = 5


def is_transient(exc: Exception) -> bool:
    """An error that another process creating the same database at the same time causes."""
    text = str(exc).lower()
    return any(s in text for s in ("locked", "already exists", "busy", "unique", "duplicate"))


def create_with_retry(create: Callable[[], None], refusal: Callable[[SQLAlchemyError], Exception]) -> None:
    """Run create() (create_all and the first rows), again after a growing pause while it fails
    with a transient error; any other database error, or the last attempt's, raises refusal(exc)
    (the caller's one-line error naming the database). Other errors pass through."""
    for attempt in range(ATTEMPTS):
        try:
            create()
            return
        except (OperationalError, IntegrityError) as exc:
            if attempt == ATTEMPTS - 1 or not is_transient(exc):
                raise refusal(exc) from None
            time.sleep(0.2 * (attempt + 1))
        except SQLAlchemyError as exc:
            raise refusal(exc) from None
