"""One verb per module; each composes inputs, the client and a report."""
