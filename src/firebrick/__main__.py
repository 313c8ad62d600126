from firebrick.cli import main

main()
