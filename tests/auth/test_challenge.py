"""WWW-Authenticate parsing and scopes."""

from __future__ import annotations

from relocator.auth import parse_challenge, repository_scope


def test_bearer_with_quoted_params() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="reg.example",'
                        'scope="repository:a/b:pull,push",error="insufficient_scope"')
    assert c is not None and c.scheme == "bearer"
    assert c.realm == "https://auth.example/token" and c.service == "reg.example"
    assert c.scope == "repository:a/b:pull,push" and c.params["error"] == "insufficient_scope"


def test_basic_and_unknown() -> None:
    c = parse_challenge('Basic realm="Registry Realm"')
    assert c is not None and c.scheme == "basic" and c.realm == "Registry Realm"
    assert parse_challenge("Negotiate abc") is None
    tok = parse_challenge("bearer realm=https://x/t, service=svc")
    assert tok is not None and tok.realm == "https://x/t" and tok.service == "svc"


def test_scope_order_is_stable() -> None:
    assert repository_scope("a/b", ("push", "pull")) == "repository:a/b:pull,push"
    assert repository_scope("a", ("pull", "pull")) == "repository:a:pull"
