"""The copy engine: targets, the plan, the scheduler, events, and copy(source, sink, ...)."""
