// The daemon's configuration: one TOML file (conf/whoisd.conf documents every key)
// with built-in defaults for everything, so that the daemon also runs with no file
// at all. Every value is checked here, once, and every refusal names the file, the
// line, the key and the value, so that an operator can fix it without guessing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/log.h"
#include "server/listen_address.h"

namespace whoisd {

struct ConfigError : std::runtime_error {
  using runtime_error::runtime_error;
};

struct ServerSettings {
  std::vector<ListenAddress> listen;  // default 0.0.0.0:43 and [::]:43
  unsigned loops = 0;                 // 0 = one per core
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::uint32_t max_connections = 10'000;
  std::uint32_t max_connections_per_source = 32;
  std::string user = "whoisd";  // dropped to after binding, only when started as root
};

struct NetworkQueryLimit {
  Network network;
  std::uint32_t queries = 0;
  friend bool operator==(const NetworkQueryLimit&, const NetworkQueryLimit&) = default;
};

struct LimitSettings {
  std::uint32_t queries = 1000;
  std::chrono::seconds window{24 * 3600};
  std::chrono::seconds suspension{24 * 3600};
  std::chrono::seconds quiet_period{30 * 24 * 3600};
  int ipv6_prefix = 64;
  std::size_t max_sources = 2'000'000;  // the limiter's memory bound (LimiterConfig::max_sources)
  std::vector<Network> exempt;
  std::vector<NetworkQueryLimit> networks;
};

// A setting added here is also listed in config_changes.cpp (what a reload changed,
// and whether it needs a restart).
struct Config {
  std::string source = "(built-in defaults)";  // the file it was read from
  ServerSettings server;
  std::string snapshot_path = "/var/lib/whoisd/snapshot/pt.sqlite";
  bool snapshot_watch = false;  // reload when a new file is renamed over the path (SIGHUP always does)
  std::string state_dir = "/var/lib/whoisd/state";
  std::chrono::seconds retention{90 * 24 * 3600};
  LimitSettings limits;
  std::vector<Network> trusted_proxies;  // may send a PROXY header
  std::vector<std::string> header;       // answer header lines, each starting with "%"
  std::vector<std::string> footer;
  std::optional<ListenAddress> metrics_listen;  // nullopt: no metrics endpoint
  log::Level log_level = log::Level::info;

  Config();  // the built-in defaults
};

// Parses TOML text; `source` names it in messages. Throws ConfigError
// ("<source>:<line>: <key>: <what is wrong>").
Config parse_config(std::string_view text, const std::string& source);
// Reads and parses a file. Throws ConfigError (also when the file cannot be read).
Config load_config_file(const std::string& path);

// Command-line settings that replace the file's (and are applied again on reload).
struct ConfigOverrides {
  std::optional<std::string> snapshot_path;  // --snapshot
  std::vector<std::string> listen;           // --listen (repeatable; replaces server.listen)
  std::optional<std::string> state_dir;      // --state-dir
  std::optional<unsigned> loops;             // --loops
  std::optional<std::string> metrics;        // --metrics ("" or "off" disables)
  std::optional<std::string> log_level;      // --log-level
  std::optional<std::string> user;           // --user
};
// Throws ConfigError naming the option and the value.
void apply_overrides(Config& config, const ConfigOverrides& overrides);

// A one-line summary for --check-config and the start-up log.
std::string describe(const Config& config);

}  // namespace whoisd
