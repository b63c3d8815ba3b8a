"""What both test sinks share: exiting with the process that started them, and one JSON line per message on stdout."""

import os
import sys
import threading
import time

OUTPUT_LOCK = threading.Lock()


def exit_with_parent():
    """Exits when the process that started the sink goes away (e.g. a test run that crashed)."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def emit(line):
    with OUTPUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
