"""Registry authentication without I/O of its own: challenges, credentials, tokens."""

from relocator.auth.challenge import Challenge, parse_challenge, repository_scope
from relocator.auth.credentials import Credential, CredentialStore
from relocator.auth.tokens import Token, TokenCache

__all__ = [
    "Challenge",
    "Credential",
    "CredentialStore",
    "Token",
    "TokenCache",
    "parse_challenge",
    "repository_scope",
]
