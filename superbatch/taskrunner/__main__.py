import sys

from superbatch.taskrunner.main import main

sys.exit(main(sys.argv[1:]))
