"""mailbot: an email-driven ticket bot for small IT service providers."""

__version__ = "0.1.0"
