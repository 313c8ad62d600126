"""The `scan --launch` sandbox: the app under test in a network namespace firebrick builds,
with the OOB listeners as its internet, the OOB DNS as its resolver and a metadata canary."""

from firebrick.sandbox.launch import LaunchConfig, Sandbox, launch_scan
from firebrick.sandbox.namespace import SandboxError, cleanup_leftovers

__all__ = ["LaunchConfig", "Sandbox", "SandboxError", "cleanup_leftovers", "launch_scan"]
