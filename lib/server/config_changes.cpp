#include "server/config_changes.h"

namespace whoisd {
namespace {

enum class OnReload { applied, needs_restart };

// Every setting of the file, each as (key, what a reload does with it, field of `a`,
// field of `b`): the one list that the three functions below walk, so that a new
// setting is named in config_reloaded, and reported and kept when it needs a restart,
// by adding it here.
template <class A, class B, class Visit>
void for_each_setting(A& a, B& b, Visit&& visit) {
  visit("server.listen", OnReload::needs_restart, a.server.listen, b.server.listen);
  visit("server.loops", OnReload::needs_restart, a.server.loops, b.server.loops);
  visit("server.read_timeout", OnReload::applied, a.server.read_timeout, b.server.read_timeout);
  visit("server.write_timeout", OnReload::applied, a.server.write_timeout, b.server.write_timeout);
  visit("server.max_connections", OnReload::applied, a.server.max_connections, b.server.max_connections);
  visit("server.max_connections_per_source", OnReload::applied, a.server.max_connections_per_source,
        b.server.max_connections_per_source);
  visit("server.user", OnReload::needs_restart, a.server.user, b.server.user);
  visit("snapshot.path", OnReload::needs_restart, a.snapshot_path, b.snapshot_path);
  visit("snapshot.watch", OnReload::needs_restart, a.snapshot_watch, b.snapshot_watch);
  visit("state.dir", OnReload::needs_restart, a.state_dir, b.state_dir);
  visit("state.retention", OnReload::needs_restart, a.retention, b.retention);
  visit("limits.queries", OnReload::applied, a.limits.queries, b.limits.queries);
  visit("limits.window", OnReload::applied, a.limits.window, b.limits.window);
  visit("limits.suspension", OnReload::applied, a.limits.suspension, b.limits.suspension);
  visit("limits.quiet_period", OnReload::applied, a.limits.quiet_period, b.limits.quiet_period);
  visit("limits.ipv6_prefix", OnReload::applied, a.limits.ipv6_prefix, b.limits.ipv6_prefix);
  visit("limits.max_sources", OnReload::applied, a.limits.max_sources, b.limits.max_sources);
  visit("limits.exempt", OnReload::applied, a.limits.exempt, b.limits.exempt);
  visit("limits.network", OnReload::applied, a.limits.networks, b.limits.networks);
  visit("proxy.trusted", OnReload::applied, a.trusted_proxies, b.trusted_proxies);
  visit("answers.header", OnReload::applied, a.header, b.header);
  visit("answers.footer", OnReload::applied, a.footer, b.footer);
  visit("metrics.listen", OnReload::needs_restart, a.metrics_listen, b.metrics_listen);
  visit("log.level", OnReload::applied, a.log_level, b.log_level);
}

}  // namespace

std::vector<std::string> changed_settings(const Config& before, const Config& after) {
  std::vector<std::string> out;
  for_each_setting(before, after, [&out](const char* key, OnReload, const auto& was, const auto& now) {
    if (was != now) out.push_back(key);
  });
  return out;
}

std::vector<std::string> settings_needing_restart(const Config& running, const Config& wanted) {
  std::vector<std::string> out;
  for_each_setting(running, wanted, [&out](const char* key, OnReload on_reload, const auto& was, const auto& now) {
    if (on_reload == OnReload::needs_restart && was != now) out.push_back(key);
  });
  return out;
}

void keep_settings_needing_restart(Config& wanted, const Config& running) {
  for_each_setting(wanted, running, [](const char*, OnReload on_reload, auto& kept, const auto& as_running) {
    if (on_reload == OnReload::needs_restart) kept = as_running;
  });
}

}  // namespace whoisd
