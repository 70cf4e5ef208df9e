// The whole daemon's life: start-up in the order that keeps it safe (bind while
// privileged, drop privileges, then open files as the service user, then serve),
// the signals (SIGHUP reloads, SIGTERM/SIGINT drain), and an orderly stop that
// leaves the limiter state and the query log on disk.
#pragma once

#include <optional>
#include <string>

#include "server/config.h"
#include "server/listen_check.h"

namespace whoisd {

struct DaemonOptions {
  Config config;                            // the configuration, overrides applied
  std::optional<std::string> config_path;   // reread on SIGHUP when set
  ConfigOverrides overrides;                // applied again on every reread
};

// Runs until SIGTERM or SIGINT. Returns the process exit status: 0 after a clean
// stop; non-zero (after a log line naming the problem) when start-up fails.
int run_daemon(DaemonOptions options);

// --check-config: the configuration is already parsed (from `config_path` when set);
// checks that the snapshot opens, that the daemon's user can read what it rereads after
// the privilege drop, the state directory, and that the listen addresses can be bound
// (listen_check.h) as whoisd started by hand would, or under `view` systemd_service as the
// shipped whoisd.service does, and prints a summary on standard output. Returns the exit status.
int check_config(const Config& config, const std::optional<std::string>& config_path,
                 ListenCheckView view = ListenCheckView::started_by_hand);

}  // namespace whoisd
