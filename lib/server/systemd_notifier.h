// The service manager's readiness protocol (sd_notify(3), Debian's libsystemd): systemd
// starts whoisd as Type=notify and learns from these messages when it serves, when a
// reload begins and ends, and when it stops; STATUS= is the line `systemctl status`
// shows. Without NOTIFY_SOCKET (not started by systemd) every call does nothing.
//
// Called from the control thread (the main thread, daemon.cpp), and during the start's
// long steps from the thread that extends its timeout (start_timeout_extender.h); never
// from an event loop: a send is a system call on a socket that the manager drains, and
// can wait while it does not. sd_notify opens a socket of its own for every message, so
// two threads may send at once.
#pragma once

#include <atomic>
#include <chrono>
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
  // WatchdogSec=: the daemon is alive (service_watchdog.h decides when it may say so).
  void watchdog();
  // The start is still busy: systemd's start timeout is pushed to `from_now` from now, so
  // that TimeoutStartSec= need not allow for the longest state upgrade.
  void extend_start_timeout(std::chrono::microseconds from_now);
  // The start failed and the process is about to exit: STATUS= says why ("start failed: "
  // and the words logged) and ERRNO= the errno(3) value behind it when there is one
  // (`error` > 0).
  // Waits (at most a few seconds) until the manager has read it, since it would
  // otherwise see the exit first and keep the status of the start in progress.
  void start_failed(std::string_view reason, int error);

  // NOTIFY_SOCKET is set: there is a manager to tell.
  static bool has_manager();

 private:
  bool send(const std::string& message);
  std::atomic<bool> failure_logged_{false};
};

// "STATUS=" and the text, as one line of valid UTF-8 (what systemd takes): line breaks
// and other control characters, and bytes that are not UTF-8, escaped as \xHH;
// at most 1,000 bytes of the text.
std::string notify_status_field(std::string_view status);

// CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= wants it.
std::uint64_t monotonic_usec();

}  // namespace whoisd
