"""Tests of the engine: SPEC sections 1 (workflows), 2 (execution) and 4 (resilience)."""
