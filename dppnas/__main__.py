from dppnas.cli import console

console()
