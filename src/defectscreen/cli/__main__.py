from defectscreen.cli.main import cli

cli()
