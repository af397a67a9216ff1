"""The task runner: runs one task's points, on every backend (``python -m
superbatch.taskrunner MANIFEST``; see ``main``). Standard library only and Python 3.8+, as
it runs under the node's or the image's Python: nothing here may import superbatch's other
modules or newer syntax at run time."""

# The line a task runner told to (``say_failed_point``) writes last to its stderr when a point
# fails; the azure backend's status reads it back, and its shell loop writes it too.
FAILED_POINT_LINE = "superbatch: point {point} failed: {message}"

# The output container's URL with its write SAS (Azure), popped by the task runner at start.
OUTPUT_URL_VAR = "SUPERBATCH_OUTPUT_URL"
