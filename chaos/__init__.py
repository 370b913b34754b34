"""`make chaos`: the whole loop under faults (API errors, kill -9, overlapping ticks, a corrupt task file, a full
disk) over many issues, then a check of the invariants that must hold whatever happened. See docs/chaos.md."""
