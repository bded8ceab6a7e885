"""Helpers the test tiers share: polling with deadlines, service processes, reading topics."""
