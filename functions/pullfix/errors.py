"""The one exception base of pullfix; narrow subclasses live next to what raises them."""

from __future__ import annotations


class PullfixError(Exception):
    """Base of every error pullfix raises on purpose."""


class ConfigError(PullfixError, ValueError):
    """The deployment's settings are wrong: a config file that does not follow the schema, or
    an environment variable it names that is unset or malformed; the message names the field
    or the variable, never a secret's value. (`pullfix.core.config` exports it too.)"""
