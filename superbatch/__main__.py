from superbatch.cli import main

main()
