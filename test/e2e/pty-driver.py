#!/usr/bin/env python3
"""Runs a command under a real pseudo-terminal (rows x cols), types the given lines into it once the
first output appears, and prints everything the terminal showed. Exits with the command's code."""
import fcntl, os, pty, select, struct, sys, termios, time

rows, cols = int(sys.argv[1]), int(sys.argv[2])
lines = sys.argv[3].encode().decode("unicode_escape").encode()
cmd = sys.argv[4:]

pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
out = b""
sent = False
deadline = time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not sent and b"#" in out:
            os.write(fd, lines)
            sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
