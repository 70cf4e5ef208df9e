#include "server/systemd_notifier.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/escape.h"
#include "common/log.h"

namespace whoisd {

void SystemdNotifier::ready(std::string_view status) { send("READY=1\n" + notify_status_field(status)); }

void SystemdNotifier::reloading(std::string_view status) {
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()) + "\n" + notify_status_field(status));
}

void SystemdNotifier::stopping(std::string_view status) { send("STOPPING=1\n" + notify_status_field(status)); }

void SystemdNotifier::status(std::string_view status) { send(notify_status_field(status)); }

void SystemdNotifier::watchdog() { send("WATCHDOG=1"); }

void SystemdNotifier::extend_start_timeout(std::chrono::microseconds from_now) {
  send("EXTEND_TIMEOUT_USEC=" + std::to_string(from_now.count()));
}

void SystemdNotifier::start_failed(std::string_view reason, int error) {
  std::string message = notify_status_field("start failed: " + std::string(reason));
  if (error > 0) message += "\nERRNO=" + std::to_string(error);
  if (!send(message) || !has_manager()) return;
  // systemd reads its notification socket before it handles the exit of a process, but a
  // busy manager may see both at once; the barrier returns once it has read everything
  // sent before it. Bounded: a manager that does not answer does not hold the exit up.
  (void)sd_notify_barrier(0, 5'000'000);
}

bool SystemdNotifier::has_manager() { return std::getenv("NOTIFY_SOCKET") != nullptr; }

bool SystemdNotifier::send(const std::string& message) {
  // 0 without NOTIFY_SOCKET; the environment is kept (unset_environment = 0), since
  // every later message goes to the same socket.
  const int rc = sd_notify(0, message.c_str());
  if (rc >= 0) return true;
  // Once: a manager that cannot be told will not be told the next time either, and the
  // daemon serves all the same (systemd then times the start or reload out, and says so).
  if (failure_logged_.exchange(true)) return false;
  log::error("notify_failed")
      .kv("error", std::strerror(-rc))
      .kv("hint", "the service manager does not hear READY=1 and the like; check NOTIFY_SOCKET and NotifyAccess=");
  return false;
}

std::string notify_status_field(std::string_view status) {
  return "STATUS=" + escape_keep_utf8(status, 1000);
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace whoisd
