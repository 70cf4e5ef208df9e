"""The service manager's end of sd_notify for the integration tests: an AF_UNIX datagram
socket at the path NOTIFY_SOCKET names, read on a thread of its own, each message kept
with the process id the kernel vouches for (SCM_CREDENTIALS, as systemd reads it)."""
import os
import socket
import struct
import threading

from harness import wait_until


class ServiceManager(threading.Thread):
    """Receives the notifications, each as (pid of the sender, {field: value}, raw text)."""

    def __init__(self, path, on_ready=lambda: None):
        super().__init__(daemon=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)  # started as root, whoisd sends as nobody after the drop
        # The sender's credentials on every message, as systemd reads them.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.on_ready = on_ready
        self.stop = threading.Event()

    def run(self):
        creds = struct.calcsize("3i")
        while not self.stop.is_set():
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(creds))
            except socket.timeout:
                continue
            pid = None
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:creds])[0]
            text = data.decode("utf-8")  # systemd takes nothing else
            fields = dict(line.split("=", 1) for line in text.split("\n") if line)
            if fields.get("READY") == "1" and not any(m[1].get("READY") == "1" for m in self.messages):
                self.on_ready()
            with self.lock:
                self.messages.append((pid, fields, text))

    def states(self):
        """The protocol's state changes so far, in order (STATUS= alone is none)."""
        with self.lock:
            return [k for _, f, _ in self.messages for k in ("READY", "RELOADING", "STOPPING") if f.get(k) == "1"]

    def last(self, key):
        with self.lock:
            found = [f for _, f, _ in self.messages if f.get(key) == "1"]
        return found[-1] if found else None

    def wait_states(self, wanted):
        return wait_until(self.states, lambda s: s == wanted,
                          lambda s: "notifications %r, expected %r:\n%s" % (s, wanted, self.dump()))

    def dump(self):
        with self.lock:
            return "\n".join(repr(t) for _, _, t in self.messages)

    def all(self, key):
        """Every message that carries `key`, as {field: value}, in order."""
        with self.lock:
            return [f for _, f, _ in self.messages if key in f]

    def close(self):
        self.stop.set()
        self.join(60)
        self.sock.close()
