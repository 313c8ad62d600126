"""Scanning a fleet: Celery workers (Redis broker) that run the service's stored scan requests.

``firebrick worker`` runs one; ``firebrick fleet submit`` queues scans from a file; ``firebrick
serve --broker`` dispatches to the workers instead of its in-process pool. Workers run scans with
the same runner as the service (server/runner.py), store results in the shared database
idempotently by scan id, share one per-target-host rate limit through Redis, and may share one
OOB service (``--oob-server``). See docs/fleet.md.
"""
