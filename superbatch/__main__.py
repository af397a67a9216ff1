from superbatch.entry import main

main()
