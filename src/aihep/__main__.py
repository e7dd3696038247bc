"""``python -m aihep`` runs the command line."""

from aihep.cli import app

app()
