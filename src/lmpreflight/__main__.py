from lmpreflight.cli import main

main()
