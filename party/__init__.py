"""party runtime: gRPC server/client, sessions, jobs, CLI (see party/cli.py)."""
__version__ = "0.1.0"
