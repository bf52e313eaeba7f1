"""Which digests the images that can still finish need, as images are lost: a pure bookkeeping
of the plan, so a sink that ``Abandons`` can skip what only lost images needed."""

from __future__ import annotations

from relocator.engine.plan import Plan
from relocator.oci import Digest

__all__ = ["Survivors", "kept_digests"]


class Survivors:
    """The plan's images, each with every digest it needs (``Plan.closure``), and those lost so far.

    An image is lost when it fails, or when a digest it needs fails at a sink that ``Abandons``
    (such a sink refuses a failed digest for the rest of the run, in whatever repository).
    """

    def __init__(self, plan: Plan) -> None:
        self._needs = {t.label: frozenset(plan.closure(t.root)) for t in plan.targets}
        self._users: dict[Digest, set[str]] = {}
        for label, digests in self._needs.items():
            for digest in digests:
                self._users.setdefault(digest, set()).add(label)
        self._lost: set[str] = set()

    def lose_digest(self, digest: Digest) -> set[Digest]:
        """Lose every image needing ``digest``; the digests no image left needs, newly."""
        return self._lose(set(self._users.get(digest, ())))

    def lose_image(self, label: str) -> set[Digest]:
        """Lose the image ``label``; the digests no image left needs, newly."""
        return self._lose({label} if label in self._needs else set())

    def _lose(self, labels: set[str]) -> set[Digest]:
        dead: set[Digest] = set()
        for label in labels - self._lost:
            self._lost.add(label)
            for digest in self._needs[label]:
                users = self._users[digest]
                users.discard(label)
                if not users:
                    dead.add(digest)
        return dead


def kept_digests(plan: Plan, done: set[str] | frozenset[str]) -> frozenset[Digest]:
    """Every digest (blobs and manifests) the images labelled ``done`` need."""
    return frozenset(d for t in plan.targets if t.label in done for d in plan.closure(t.root))
