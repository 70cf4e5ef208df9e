// The service manager's readiness protocol (sd_notify(3), Debian's libsystemd): systemd
// starts whoisd as Type=notify and learns from these messages when it serves, when a
// reload begins and ends, and when it stops; STATUS= is the line `systemctl status`
// shows. Without NOTIFY_SOCKET (not started by systemd) every call does nothing.
//
// Called from the control thread only (the main thread, daemon.cpp), never from an
// event loop: a send is a system call on a socket that the manager drains, and can
// wait while it does not.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace whoisd {

class SystemdNotifier {
 public:
  // Listeners, snapshot and state are open and the loops serve (and, after a reload,
  // the reload is over, whatever it did).
  void ready(std::string_view status);
  // A reload begins: RELOADING=1 with MONOTONIC_USEC=, the CLOCK_MONOTONIC time now, which
  // systemd 253's Type=notify-reload matches with the signal it sent.
  void reloading(std::string_view status);
  // The drain begins.
  void stopping(std::string_view status);
  // What the daemon does now, without a change of state.
  void status(std::string_view status);

 private:
  void send(const std::string& message);
  bool failure_logged_ = false;
};

// "STATUS=" and the text, as one line of valid UTF-8 (what systemd takes): line breaks
// and other control characters, and bytes that are not UTF-8, escaped as \xHH;
// at most 1,000 bytes of the text.
std::string notify_status_field(std::string_view status);

// CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= wants it.
std::uint64_t monotonic_usec();

}  // namespace whoisd
