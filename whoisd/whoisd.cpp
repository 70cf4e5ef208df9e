// whoisd: the WHOIS (RFC 3912) service of the .pt registry.
//   whoisd --config /etc/whoisd/whoisd.conf
//   whoisd --snapshot pt.sqlite --listen 127.0.0.1:4343 --state-dir ./state   (no file needed)
//   whoisd --config whoisd.conf --check-config [--socket-activated]
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/fatal_signal.h"
#include "common/version.h"
#include "server/config.h"
#include "server/daemon.h"
#include "server/systemd_notifier.h"

namespace {

// Standard input, output and error closed by whoever started whoisd (`whoisd 2>&-`, a
// supervisor that closes them) are opened on /dev/null, so that the next descriptors
// opened do not take their numbers: an event loop's epoll descriptor took them, the log
// lines (descriptor 2) were written into it and lost, and libuv, which will not close a
// descriptor below 3, aborted the stop. False, with the reason on standard error, when
// /dev/null cannot be opened.
bool open_standard_descriptors() {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    const int null_fd = ::open("/dev/null", O_RDWR);  // the lowest free number: fd
    if (null_fd < 0) {
      std::fprintf(stderr, "whoisd: descriptor %d is closed and /dev/null cannot be opened for it: %s\n", fd,
                   std::strerror(errno));
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!open_standard_descriptors()) return 1;
  // A crash, abort() or the watchdog's SIGABRT writes the log lines still queued, and a
  // fatal_signal line, before the process dies (common/fatal_signal.h). Before any
  // other thread starts: a thread gets its alternate signal stack only once it is installed.
  whoisd::fatal_signal::install();
  // A client that resets its connection must not kill the daemon: libuv sees EPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"whoisd: the WHOIS (RFC 3912) service of the .pt registry"};
  std::string config_path;
  std::string snapshot, state_dir, metrics, log_level, user;
  std::vector<std::string> listen;
  unsigned loops = 0;
  bool check = false;
  bool socket_activated = false;
  auto* config_opt = app.add_option("-c,--config", config_path, "configuration file (TOML); without it, built-in defaults");
  auto* snapshot_opt = app.add_option("--snapshot", snapshot, "snapshot file (overrides [snapshot] path)");
  app.add_option("--listen", listen, "address to listen on, IPv4:port or [IPv6]:port; repeatable (replaces [server] listen)");
  auto* state_opt = app.add_option("--state-dir", state_dir, "writable state directory (overrides [state] dir)");
  auto* loops_opt = app.add_option("--loops", loops, "event loops; 0 = one per core (overrides [server] loops)");
  auto* metrics_opt = app.add_option("--metrics", metrics, "metrics address, or off (overrides [metrics] listen)");
  auto* level_opt = app.add_option("--log-level", log_level, "debug, info, warn or error (overrides [log] level)");
  auto* user_opt = app.add_option("--user", user, "user to switch to after binding, when started as root (overrides [server] user)");
  auto* check_opt = app.add_flag("--check-config", check,
                                 "check the configuration, that the snapshot opens, the state dir is writable and "
                                 "the listen addresses can be bound, print a summary, exit");
  app.add_flag("--socket-activated", socket_activated,
               "with --check-config: check the listen addresses as the shipped whoisd.service starts under "
               "whoisd.socket: [server] listen is left to the socket unit (not bound), and the metrics endpoint "
               "is bound as user whoisd without capabilities would (a port below 1024 fails, even as root)")
      ->needs(check_opt);
  app.set_version_flag("--version", "whoisd " + std::string(whoisd::version()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // prints the parser's words, or --help and --version (status 0)
    // Started by systemd (a drop-in's ExecStart= with an option misspelt), the reason shows in
    // `systemctl status whoisd` too, as for a configuration that does not load. A check is
    // no start: --check-config counts once parsed, even when a later argument fails.
    if (status != 0 && check_opt->count() == 0)
      whoisd::SystemdNotifier().start_failed("command line: " + std::string(e.what()), 0);
    return status;
  }

  whoisd::DaemonOptions options;
  if (*snapshot_opt) options.overrides.snapshot_path = snapshot;
  options.overrides.listen = listen;
  if (*state_opt) options.overrides.state_dir = state_dir;
  if (*loops_opt) options.overrides.loops = loops;
  if (*metrics_opt) options.overrides.metrics = metrics;
  if (*level_opt) options.overrides.log_level = log_level;
  if (*user_opt) options.overrides.user = user;
  try {
    if (*config_opt) {
      options.config_path = config_path;
      options.config = whoisd::load_config_file(config_path);
    }
    whoisd::apply_overrides(options.config, options.overrides);
  } catch (const whoisd::ConfigError& e) {
    std::fprintf(stderr, "whoisd: %s\n", e.what());
    // Started by systemd, the reason shows in `systemctl status whoisd` too.
    if (!check) whoisd::SystemdNotifier().start_failed(e.what(), 0);
    return 2;
  }
  if (check)
    return whoisd::check_config(options.config, options.config_path,
                                socket_activated ? whoisd::ListenCheckView::systemd_service
                                                 : whoisd::ListenCheckView::started_by_hand);
  return whoisd::run_daemon(std::move(options));
}
