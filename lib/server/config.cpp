#include "server/config.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/duration.h"
#include "common/escape.h"
#include "render/answer_renderer.h"
#include "state/retention.h"

namespace whoisd {
namespace {

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date/time";
    default: return "nothing";
  }
}

// Reads one TOML document, remembering where it came from so that every refusal
// says "<file>:<line>: <key>: <why>".
class Reader {
 public:
  explicit Reader(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const toml::node* node, std::string_view key, std::string_view why) const {
    std::string where = source_;
    if (node && node->source().begin.line > 0) where += ":" + std::to_string(node->source().begin.line);
    throw ConfigError(where + ": " + std::string(key) + ": " + std::string(why));
  }

  // Refuses any key of `table` not in `known`, naming it.
  void only_known(const toml::table& table, std::string_view table_name, const std::set<std::string_view>& known) const {
    for (auto&& [k, v] : table) {
      if (known.count(k.str())) continue;
      std::string list;
      for (auto name : known) list += (list.empty() ? "" : ", ") + std::string(name);
      std::string full = table_name.empty() ? std::string(k.str()) : std::string(table_name) + "." + std::string(k.str());
      fail(&v, full, "unknown key" + (list.empty() ? std::string() : " (known here: " + list + ")"));
    }
  }

  const toml::table* table(const toml::table& parent, std::string_view name) const {
    const toml::node* n = parent.get(name);
    if (!n) return nullptr;
    if (!n->is_table()) fail(n, name, "must be a table ([" + std::string(name) + "]), not " + type_name(*n));
    return n->as_table();
  }

  std::string string(const toml::node& n, std::string_view key) const {
    if (!n.is_string()) fail(&n, key, "must be a string, not " + type_name(n));
    const std::string& s = n.as_string()->get();
    for (unsigned char c : s)
      if (c < 0x20 || c == 0x7f) fail(&n, key, "must not hold control characters: \"" + escape_bytes(s, 80) + "\"");
    return s;
  }

  std::int64_t integer(const toml::node& n, std::string_view key, std::int64_t min, std::int64_t max) const {
    if (!n.is_integer()) fail(&n, key, "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", not " + type_name(n));
    std::int64_t v = n.as_integer()->get();
    if (v < min || v > max)
      fail(&n, key, "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", not " + std::to_string(v));
    return v;
  }

  std::chrono::milliseconds duration(const toml::node& n, std::string_view key, std::chrono::milliseconds min,
                                     std::optional<std::chrono::milliseconds> max = std::nullopt) const {
    if (!n.is_string()) fail(&n, key, "must be a duration in quotes with a unit, e.g. \"10s\" or \"24h\", not " + type_name(n));
    std::string error;
    auto d = parse_duration(n.as_string()->get(), &error);
    if (!d) fail(&n, key, error);
    if (*d < min) fail(&n, key, "must be at least " + format_duration(min) + ", not " + n.as_string()->get());
    if (max && *d > *max) fail(&n, key, "must be at most " + format_duration(*max) + ", not " + n.as_string()->get());
    return *d;
  }

  std::chrono::seconds seconds(const toml::node& n, std::string_view key, std::chrono::seconds min,
                               std::chrono::seconds max = std::chrono::seconds(10LL * 366 * 86'400)) const {
    auto d = duration(n, key, min);
    if (d > max) fail(&n, key, "must be at most " + format_duration(max) + ", not " + n.as_string()->get());
    if (d.count() % 1000 != 0) fail(&n, key, "must be a whole number of seconds, not " + n.as_string()->get());
    return std::chrono::duration_cast<std::chrono::seconds>(d);
  }

  const toml::array& array(const toml::node& n, std::string_view key) const {
    if (!n.is_array()) fail(&n, key, "must be an array [ ... ], not " + type_name(n));
    return *n.as_array();
  }

  Network network(const toml::node& n, std::string_view key) const {
    std::string text = string(n, key);
    std::string error;
    auto net = Network::parse(text, &error);
    if (!net) fail(&n, key, error.empty() ? "'" + text + "' is not a network (write 192.0.2.0/24 or 2001:db8::/32)" : error);
    return *net;
  }

  std::vector<Network> networks(const toml::node& n, std::string_view key) const {
    std::vector<Network> out;
    for (const auto& item : array(n, key)) out.push_back(network(item, key));
    return out;
  }

  ListenAddress listen_address(const toml::node& n, std::string_view key) const {
    std::string text = string(n, key);
    std::string error;
    auto a = ListenAddress::parse(text, &error);
    if (!a) fail(&n, key, error);
    return *a;
  }

  std::vector<std::string> answer_lines(const toml::node& n, std::string_view key) const {
    std::vector<std::string> out;
    for (const auto& item : array(n, key)) {
      std::string line = string(item, key);
      if (!(line == "%" || line.rfind("% ", 0) == 0))
        fail(&item, key, "each line must start with \"% \" (so that clients read it as a comment): \"" + escape_keep_utf8(line, 80) + "\"");
      if (std::string problem = configured_line_problem(line); !problem.empty())
        fail(&item, key, "\"" + escape_keep_utf8(line, 80) + "\" " + problem);
      out.push_back(std::move(line));
    }
    return out;
  }

 private:
  const std::string& source_;
};

void read_server(const Reader& r, const toml::table& t, ServerSettings& s) {
  r.only_known(t, "server", {"listen", "loops", "read_timeout", "write_timeout", "max_connections",
                             "max_connections_per_source", "user"});
  if (auto n = t.get("listen")) {
    s.listen.clear();
    for (const auto& item : r.array(*n, "server.listen")) {
      auto a = r.listen_address(item, "server.listen");
      for (const auto& existing : s.listen)
        if (existing == a) r.fail(&item, "server.listen", "'" + a.to_string() + "' is listed twice");
      s.listen.push_back(a);
    }
    if (s.listen.empty()) r.fail(n, "server.listen", "must name at least one address");
  }
  if (auto n = t.get("loops")) s.loops = static_cast<unsigned>(r.integer(*n, "server.loops", 0, 256));
  // A WHOIS exchange takes milliseconds; a timeout of minutes only holds connections
  // (and the drain at SIGTERM waits for both: see conf/whoisd.conf).
  constexpr std::chrono::milliseconds kMinTimeout{100}, kMaxTimeout{10 * 60 * 1000};
  if (auto n = t.get("read_timeout")) s.read_timeout = r.duration(*n, "server.read_timeout", kMinTimeout, kMaxTimeout);
  if (auto n = t.get("write_timeout")) s.write_timeout = r.duration(*n, "server.write_timeout", kMinTimeout, kMaxTimeout);
  if (auto n = t.get("max_connections"))
    s.max_connections = static_cast<std::uint32_t>(r.integer(*n, "server.max_connections", 1, 10'000'000));
  if (auto n = t.get("max_connections_per_source"))
    s.max_connections_per_source = static_cast<std::uint32_t>(r.integer(*n, "server.max_connections_per_source", 1, 10'000'000));
  if (auto n = t.get("user")) {
    s.user = r.string(*n, "server.user");
    if (s.user.empty()) r.fail(n, "server.user", "must not be empty (name an unprivileged user)");
  }
}

void read_limits(const Reader& r, const toml::table& t, LimitSettings& l) {
  r.only_known(t, "limits", {"queries", "window", "suspension", "quiet_period", "ipv6_prefix", "max_sources", "exempt",
                              "network"});
  constexpr std::int64_t kMaxCount = std::numeric_limits<std::uint32_t>::max();
  if (auto n = t.get("queries")) l.queries = static_cast<std::uint32_t>(r.integer(*n, "limits.queries", 1, kMaxCount));
  // The limiter counts in whole minutes and keeps at most a year of window.
  constexpr std::chrono::seconds kYear{366LL * 86'400};
  if (auto n = t.get("window")) {
    l.window = r.seconds(*n, "limits.window", std::chrono::seconds(60), kYear);
    if (l.window.count() % 60 != 0)
      r.fail(n, "limits.window", "must be a whole number of minutes (the limiter counts in minutes), not " +
                                     n->as_string()->get());
  }
  if (auto n = t.get("suspension")) l.suspension = r.seconds(*n, "limits.suspension", std::chrono::seconds(1), kYear);
  if (auto n = t.get("quiet_period")) l.quiet_period = r.seconds(*n, "limits.quiet_period", std::chrono::seconds(0));
  if (auto n = t.get("ipv6_prefix")) l.ipv6_prefix = static_cast<int>(r.integer(*n, "limits.ipv6_prefix", 16, 128));
  // Below 10,000 real clients would replace each other; above 100 million the bound
  // (some 9 GB) protects nothing on a machine that runs whoisd.
  if (auto n = t.get("max_sources"))
    l.max_sources = static_cast<std::size_t>(r.integer(*n, "limits.max_sources", 10'000, 100'000'000));
  if (auto n = t.get("exempt")) l.exempt = r.networks(*n, "limits.exempt");
  if (auto n = t.get("network")) {
    if (!n->is_array_of_tables())
      r.fail(n, "limits.network", "must be written as [[limits.network]] tables with network = \"...\" and queries = N");
    for (const auto& item : *n->as_array()) {
      const toml::table& nt = *item.as_table();
      r.only_known(nt, "limits.network", {"network", "queries"});
      const toml::node* net = nt.get("network");
      const toml::node* q = nt.get("queries");
      if (!net) r.fail(&item, "limits.network", "each [[limits.network]] needs network = \"192.0.2.0/24\"");
      if (!q) r.fail(&item, "limits.network", "each [[limits.network]] needs queries = N");
      NetworkQueryLimit limit{r.network(*net, "limits.network.network"),
                              static_cast<std::uint32_t>(r.integer(*q, "limits.network.queries", 1, kMaxCount))};
      for (const auto& existing : l.networks)
        if (existing.network == limit.network)
          r.fail(net, "limits.network.network", "'" + limit.network.to_string() + "' is listed twice");
      l.networks.push_back(limit);
    }
  }
}

}  // namespace

Config::Config() {
  server.listen.push_back(*ListenAddress::parse("0.0.0.0:43"));
  server.listen.push_back(*ListenAddress::parse("[::]:43"));
  limits.exempt.push_back(*Network::parse("127.0.0.1/32"));
  trusted_proxies.push_back(*Network::parse("127.0.0.1/32"));
  trusted_proxies.push_back(*Network::parse("::1/128"));
  metrics_listen = ListenAddress::parse("127.0.0.1:9143");
}

Config parse_config(std::string_view text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(source + ":" + std::to_string(e.source().begin.line) + ": not valid TOML: " +
                      std::string(e.description()));
  }
  Reader r(source);
  Config c;
  c.source = source;
  r.only_known(root, "", {"server", "snapshot", "state", "limits", "proxy", "answers", "metrics", "log"});
  if (auto t = r.table(root, "server")) read_server(r, *t, c.server);
  if (auto t = r.table(root, "snapshot")) {
    r.only_known(*t, "snapshot", {"path", "watch"});
    if (auto n = t->get("watch")) {
      if (!n->is_boolean()) r.fail(n, "snapshot.watch", "must be true or false, not " + type_name(*n));
      c.snapshot_watch = n->as_boolean()->get();
    }
    if (auto n = t->get("path")) {
      c.snapshot_path = r.string(*n, "snapshot.path");
      if (c.snapshot_path.empty()) r.fail(n, "snapshot.path", "must not be empty");
    }
  }
  if (auto t = r.table(root, "state")) {
    r.only_known(*t, "state", {"dir", "retention"});
    if (auto n = t->get("dir")) {
      c.state_dir = r.string(*n, "state.dir");
      if (c.state_dir.empty()) r.fail(n, "state.dir", "must not be empty");
    }
    if (auto n = t->get("retention")) c.retention = r.seconds(*n, "state.retention", kMinRetention, kMaxRetention);
  }
  if (auto t = r.table(root, "limits")) read_limits(r, *t, c.limits);
  if (auto t = r.table(root, "proxy")) {
    r.only_known(*t, "proxy", {"trusted"});
    if (auto n = t->get("trusted")) c.trusted_proxies = r.networks(*n, "proxy.trusted");
  }
  if (auto t = r.table(root, "answers")) {
    r.only_known(*t, "answers", {"header", "footer"});
    if (auto n = t->get("header")) c.header = r.answer_lines(*n, "answers.header");
    if (auto n = t->get("footer")) {
      c.footer = r.answer_lines(*n, "answers.footer");
      if (c.footer.size() > kMaxFooterLines)
        r.fail(n, "answers.footer", "has " + std::to_string(c.footer.size()) + " lines; at most " +
                                        std::to_string(kMaxFooterLines) +
                                        ", so that the limit answers, which stay under five lines, carry it");
    }
  }
  if (auto t = r.table(root, "metrics")) {
    r.only_known(*t, "metrics", {"listen"});
    if (auto n = t->get("listen")) {
      std::string value = r.string(*n, "metrics.listen");
      if (value.empty() || value == "off")  // as on the command line (--metrics off)
        c.metrics_listen.reset();
      else
        c.metrics_listen = r.listen_address(*n, "metrics.listen");
    }
  }
  if (auto t = r.table(root, "log")) {
    r.only_known(*t, "log", {"level"});
    if (auto n = t->get("level")) {
      std::string name = r.string(*n, "log.level");
      if (!log::parse_level(name, c.log_level))
        r.fail(n, "log.level", "must be one of debug, info, warn, error, not '" + name + "'");
    }
  }
  return c;
}

Config load_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError(path + ": is a directory, not a configuration file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the configuration file: " + std::string(std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read the configuration file");
  std::string s = text.str();
  if (s.size() > 4 * 1024 * 1024) throw ConfigError(path + ": the configuration file is larger than 4 MiB");
  return parse_config(s, path);
}

void apply_overrides(Config& c, const ConfigOverrides& o) {
  auto fail = [](std::string_view option, const std::string& why) {
    throw ConfigError("command line: " + std::string(option) + ": " + why);
  };
  if (o.snapshot_path) {
    if (o.snapshot_path->empty()) fail("--snapshot", "must name a file");
    c.snapshot_path = *o.snapshot_path;
  }
  if (!o.listen.empty()) {
    c.server.listen.clear();
    for (const auto& text : o.listen) {
      std::string error;
      auto a = ListenAddress::parse(text, &error);
      if (!a) fail("--listen", error);
      for (const auto& existing : c.server.listen)
        if (existing == *a) fail("--listen", "'" + text + "' is given twice");
      c.server.listen.push_back(*a);
    }
  }
  if (o.state_dir) {
    if (o.state_dir->empty()) fail("--state-dir", "must name a directory");
    c.state_dir = *o.state_dir;
  }
  if (o.loops) {
    if (*o.loops > 256) fail("--loops", "must be from 0 (one per core) to 256, not " + std::to_string(*o.loops));
    c.server.loops = *o.loops;
  }
  if (o.metrics) {
    if (o.metrics->empty() || *o.metrics == "off") {
      c.metrics_listen.reset();
    } else {
      std::string error;
      auto a = ListenAddress::parse(*o.metrics, &error);
      if (!a) fail("--metrics", error);
      c.metrics_listen = *a;
    }
  }
  if (o.user) {
    if (o.user->empty()) fail("--user", "must name an unprivileged user");
    c.server.user = *o.user;
  }
  if (o.log_level && !log::parse_level(*o.log_level, c.log_level))
    fail("--log-level", "must be one of debug, info, warn, error, not '" + *o.log_level + "'");
}

std::string describe(const Config& c) {
  std::string listen;
  for (const auto& a : c.server.listen) listen += (listen.empty() ? "" : ",") + a.to_string();
  std::string s = "config=" + c.source + " listen=" + listen + " loops=" +
                  (c.server.loops ? std::to_string(c.server.loops) : std::string("auto")) +
                  " snapshot=" + c.snapshot_path + (c.snapshot_watch ? " (watched)" : "") + " state_dir=" + c.state_dir +
                  " read_timeout=" + format_duration(c.server.read_timeout) +
                  " write_timeout=" + format_duration(c.server.write_timeout) +
                  " max_connections=" + std::to_string(c.server.max_connections) +
                  " max_connections_per_source=" + std::to_string(c.server.max_connections_per_source) +
                  " queries=" + std::to_string(c.limits.queries) + "/" +
                  format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(c.limits.window)) +
                  " suspension=" + format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(c.limits.suspension)) +
                  " exempt=" + std::to_string(c.limits.exempt.size()) +
                  " network_limits=" + std::to_string(c.limits.networks.size()) +
                  " max_sources=" + std::to_string(c.limits.max_sources) +
                  " trusted_proxies=" + std::to_string(c.trusted_proxies.size()) +
                  " metrics=" + (c.metrics_listen ? c.metrics_listen->to_string() : std::string("off"));
  return s;
}

}  // namespace whoisd
