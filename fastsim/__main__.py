from fastsim.cli.main import app

app(prog_name="fastsim")
