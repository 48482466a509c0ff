"""Errors meant for the person at the keyboard: commands print them, the API returns them as 400s.

Services raise a subclass with a message that says what is wrong and what to do about it."""


class UserError(Exception):
    """Bad input or a state the user can fix; never shown as a traceback."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
