"""The in-flight line under the bars: short names, as many as fit, then how many more."""

from __future__ import annotations

from relocator.ui.render import in_flight_line


def test_in_flight_names_what_fits_and_counts_the_rest() -> None:
    labels = [f"registry.example/team/app{i}:v1" for i in range(8)]
    assert in_flight_line([], 80) is None
    assert in_flight_line(labels[:2], 80) == "in flight: app0:v1, app1:v1"
    line = in_flight_line(labels, 40)
    assert line == "in flight: app0:v1, app1:v1, app2:v1 +5" and len(line) <= 40
    assert in_flight_line(labels, 5) == "in flight: app0:v1 +7"  # one name at least
