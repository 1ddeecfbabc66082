from driftwise.cli import app

app()
