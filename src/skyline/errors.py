"""The one exception tree: every error a user can trigger says what was wrong and how to fix it."""

from __future__ import annotations


class SkylineError(Exception):
    """Root of every error Skyline raises on purpose.

    `fix` holds the suggested remedy; it is appended to the message so a user sees it in any
    traceback or CLI output.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.fix = fix
        super().__init__(f"{message}. Fix: {fix}" if fix else message)


class ConfigError(SkylineError, ValueError):
    """A specification (file, field or argument) holds an invalid value."""


class TopologyError(ConfigError):
    """A topology spec or file is invalid: names the file, field and value."""


class UnknownNameError(SkylineError, KeyError):
    """A name was looked up in a registry (planner, model, preset...) that does not hold it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RegistryError(SkylineError):
    """A plug-in registration was refused (duplicate name, wrong type)."""


class ModelCaptureError(SkylineError):
    """A model could not be captured into a graph (names the op or construct that failed)."""


class PlanError(SkylineError):
    """A plan cannot be made, loaded or applied."""


class InfeasiblePlanError(PlanError):
    """No placement satisfies the constraints (memory, deadline)."""


class FrameError(SkylineError):
    """Bytes on the wire are not a valid Skyline frame (names what is wrong)."""


class TransportError(SkylineError):
    """A peer could not be reached, or did not answer in time."""


class RemoteError(SkylineError):
    """A peer answered with an error frame (its message is carried over)."""


class EmulationError(SkylineError):
    """Link or device emulation could not be set up (e.g. needs root); says how to fix it."""
