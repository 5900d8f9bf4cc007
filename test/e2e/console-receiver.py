#!/usr/bin/env python3
"""A console socket as containerd's shim has one: accept a connection, receive the pty master over
SCM_RIGHTS, then print what the container writes to its terminal until it closes."""
import os, socket, sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
print("listening", flush=True)
conn, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
print("received %d fd(s) name=%s" % (len(fds), msg.decode()), flush=True)
master = fds[0]
out = b""
while True:
    try:
        data = os.read(master, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
sys.stdout.write(out.decode(errors="replace"))
