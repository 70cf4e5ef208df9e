// whoisd-admin: the operators' tool (SPEC §6, issue 3). It works on the daemon's own
// state database (state.sqlite in the [state] directory):
//   top          sources with most queries over a period (as the limiter counts them), by outcome
//   history      one source's queries and abuse events
//   suspensions  suspensions in force (and commands not yet applied)
//   lift         end a source's suspension
//   suspend      impose a suspension of N hours (never shortening one in force)
//   purge        remove query and abuse log rows older than the retention
//
// lift and suspend are queued in the admin_actions table; the running daemon applies
// them within a second and records what they did, with the reason and the operator,
// in the abuse log. When no daemon runs, they stay queued and the daemon applies them
// at its next start, before it answers any query (the stored state is never edited
// behind the limiter's back). The tool tests the state directory's lock to know which
// of the two it is: it waits briefly for a running daemon, and says at once when there
// is none (the exit status tells a script too; main's footer lists them).
//
// top reads whole hours from query_counts (the writer's per-hour counts, added once a
// minute) and only the rows of the period's first, partial hour and those the writer
// has not counted yet (state/query_counts.h). The tool never upgrades the state schema:
// a file of an older version (from a whoisd before query_counts, before the source
// journal, before the abuse log's kinds of version 4, or before version 5's
// suspension reasons) is refused with a message
// asking for the daemon's restart, which upgrades it (lib/state/state_db.h).
#include <CLI/CLI.hpp>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <toml++/toml.h>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/version.h"
#include "policy/source_key.h"
#include "server/config.h"
#include "state/admin_action_result.h"
#include "state/query_log.h"
#include "state/retention.h"
#include "state/state_db.h"
#include "state/state_dir_lock.h"
#include "state/state_reports.h"

namespace {

using whoisd::UnixSeconds;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- output helpers -------------------------------------------------------

// Always valid JSON, whatever the bytes: a text column may hold anything an older
// tool or a hand-edited file put there, so bytes that are not UTF-8 become U+FFFD.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = whoisd::printable_utf8_length(s.substr(i));
      out += n ? s.substr(i, n) : std::string_view("\\ufffd");
      i += n ? n : 1;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out + "\"";
}

// A JSON object built member by member, in order.
class JsonObject {
 public:
  JsonObject& str(std::string_view key, std::string_view value) { return raw(key, json_string(value)); }
  JsonObject& num(std::string_view key, std::int64_t value) { return raw(key, std::to_string(value)); }
  JsonObject& boolean(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  JsonObject& null(std::string_view key) { return raw(key, "null"); }
  JsonObject& raw(std::string_view key, std::string_view json) {
    text_ += text_.size() > 1 ? "," : "";
    text_ += json_string(key) + ":" + std::string(json);
    return *this;
  }
  std::string done() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

// What is not there is null, never "": a script tests one thing for "none".
JsonObject& optional_str(JsonObject& o, std::string_view key, std::string_view value) {
  return value.empty() ? o.null(key) : o.str(key, value);
}
JsonObject& optional_time(JsonObject& o, std::string_view key, whoisd::UnixSeconds time) {
  return time ? o.str(key, whoisd::log::iso8601_utc(time)) : o.null(key);
}

std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

// Display width: code points, since values may hold UTF-8 (escaped query text keeps it).
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xc0) != 0x80; }));
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = width(header[i]);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(widths[i] - width(cells[i]) + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
}

std::string iso_us(std::int64_t us) {
  std::int64_t s = us >= 0 ? us / 1'000'000 : (us - 999'999) / 1'000'000;
  std::string text = whoisd::log::iso8601_utc(s);  // ...Z
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us - s * 1'000'000));
  return text.substr(0, text.size() - 1) + frac + "Z";
}

// The rows by outcome, those of the queries the limiter counts (what QUERIES adds up)
// first, then the others: "found 4, no_match 2; not counted: limit_crossed 1, timeout 2".
std::string outcome_breakdown(const std::vector<std::pair<std::string, std::int64_t>>& outcomes) {
  std::string counted, other;
  for (const auto& [word, n] : outcomes) {
    const auto known = whoisd::parse_query_outcome(word);
    std::string& into = known && whoisd::counted_by_limiter(*known) ? counted : other;
    into += (into.empty() ? "" : ", ") + word + " " + std::to_string(n);
  }
  if (other.empty()) return counted;
  return counted + (counted.empty() ? "" : "; ") + "not counted: " + other;
}

std::string json_counts(const std::vector<std::pair<std::string, std::int64_t>>& outcomes) {
  JsonObject o;
  for (const auto& [word, n] : outcomes) o.num(word, n);
  return o.done();
}

std::string remaining(std::int64_t seconds) {
  if (seconds <= 0) return "0s";
  return whoisd::format_duration(std::chrono::seconds(seconds));
}

// ---- arguments ------------------------------------------------------------

std::chrono::seconds duration_arg(const std::string& option, const std::string& text) {
  std::string error;
  auto d = whoisd::parse_duration(text, &error);
  if (!d) throw UsageError(option + ": " + error);
  if (d->count() <= 0) throw UsageError(option + ": '" + text + "' must be longer than zero");
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*d);
  if (seconds.count() < 1) throw UsageError(option + ": '" + text + "' is shorter than a second, the finest step here");
  return seconds;
}

// The start of a period of `since` back from `now`. A period longer than the time
// since 1970 starts then (no overflow in microseconds for "99999999w").
UnixSeconds period_start(UnixSeconds now, std::chrono::seconds since) {
  return since.count() >= now ? 0 : now - since.count();
}

// --hours: a whole number of hours in [1, max], with a message that says so. "48h" and
// "2d" are taken too: the tool prints a suspension's length as "48h", and --since,
// --wait and --retention take units, so an operator types them here as well.
int hours_arg(const std::string& text, int max) {
  long long value = 0;
  const char* const last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(text.data(), last, value);
  const int per_unit = end == last ? 1 : end + 1 != last ? 0 : *end == 'h' ? 1 : *end == 'd' ? 24 : 0;
  if (ec != std::errc() || end == text.data() || per_unit == 0 || value < 1 || value > max / per_unit)
    throw UsageError("--hours: '" + text + "' is not a whole number of hours from 1 to " + std::to_string(max) +
                     " (48, 48h and 2d are the same)");
  return static_cast<int>(value) * per_unit;
}

// A reason or an operator's name: it reaches terminals, the daemon's log and JSON, so
// it must be printable UTF-8 text, and short enough to read in a table.
std::string text_arg(const std::string& option, const std::string& text) {
  constexpr std::size_t kMaxBytes = 500;
  if (text.size() > kMaxBytes)
    throw UsageError(option + ": " + std::to_string(text.size()) + " bytes, more than " + std::to_string(kMaxBytes));
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = whoisd::printable_utf8_length(std::string_view(text).substr(i));
    if (n == 0) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(text[i]));
      throw UsageError(option + ": byte " + std::to_string(i + 1) + " (" + byte +
                       ") is not printable UTF-8 text (control character or invalid encoding)");
    }
    i += n;
  }
  return text;
}

std::string source_arg(const std::string& text, int ipv6_prefix) {
  std::string error;
  auto key = whoisd::parse_source_key(text, ipv6_prefix, &error);
  if (!key) throw UsageError("source: " + error);
  return whoisd::to_string(*key);
}

std::string default_operator() {
  for (const char* var : {"SUDO_USER", "LOGNAME", "USER"})
    if (const char* v = std::getenv(var); v && *v) return v;
  if (const passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "uid " + std::to_string(getuid());
}

struct Settings {
  std::string state_dir;
  int ipv6_prefix = 64;
  std::optional<std::string> retention;  // from [state] retention
};

// Only what this tool needs from the daemon's configuration; the daemon checks the rest.
Settings settings_from_config(const std::string& file) {
  Settings s;
  toml::table config;
  try {
    config = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw UsageError("config " + file + ": line " + std::to_string(where.line) + ": " + std::string(e.description()));
  }
  // The daemon's default when the file leaves it out (every key is optional).
  s.state_dir = whoisd::Config{}.state_dir;
  if (auto dir = config["state"]["dir"]) {
    if (!dir.is_string()) throw UsageError("config " + file + ": [state] dir must be a string");
    s.state_dir = dir.value<std::string>().value_or("");
    if (s.state_dir.empty()) throw UsageError("config " + file + ": [state] dir is empty");
  }
  if (auto prefix = config["limits"]["ipv6_prefix"]) {
    auto v = prefix.value<std::int64_t>();
    if (!prefix.is_integer() || !v || *v < 1 || *v > 128)
      throw UsageError("config " + file + ": [limits] ipv6_prefix must be an integer from 1 to 128");
    s.ipv6_prefix = static_cast<int>(*v);
  }
  if (auto retention = config["state"]["retention"]) {
    if (!retention.is_string()) throw UsageError("config " + file + ": [state] retention must be a string like \"90d\"");
    s.retention = retention.value<std::string>();
  }
  return s;
}

// The configuration file the daemon's unit runs with (systemd/whoisd.service, and
// where `cmake --install` puts the example): read when the command line names
// neither a file nor a directory, as an operator on the daemon's host expects.
constexpr const char* kDefaultConfig = "/etc/whoisd/whoisd.conf";

// --state-dir, else --config's [state] dir, else kDefaultConfig's; the other settings
// from the file when there is one.
Settings settings_from_command_line(const std::string& state_dir, const std::string& config_file) {
  if (!state_dir.empty()) {
    Settings s;
    if (!config_file.empty()) s = settings_from_config(config_file);  // the directory from the command line
    s.state_dir = state_dir;
    return s;
  }
  if (!config_file.empty()) return settings_from_config(config_file);
  std::error_code ec;
  const auto status = std::filesystem::status(kDefaultConfig, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    throw UsageError(std::string("say where the state is: --state-dir DIR or --config FILE (without them ") +
                     kDefaultConfig + " is read, and it does not exist)");
  if (ec)
    throw UsageError(std::string("say where the state is: --state-dir DIR or --config FILE (without them ") +
                     kDefaultConfig + " is read, and it cannot be examined: " + ec.message() + ")");
  return settings_from_config(kDefaultConfig);
}

// ---- commands ---------------------------------------------------------------

struct Common {
  std::string state_dir, config_file;
  int ipv6_prefix = 0;  // 0: from the config, else 64
  bool json = false;
  Settings settings;
  whoisd::SystemClock clock;

  whoisd::StateDb open(whoisd::StateDb::Mode mode) const {
    std::error_code ec;
    const auto status = std::filesystem::status(settings.state_dir, ec);
    if (status.type() == std::filesystem::file_type::not_found)
      throw whoisd::StateDbError("state directory " + settings.state_dir + ": does not exist");
    if (!ec && status.type() != std::filesystem::file_type::directory)
      throw whoisd::StateDbError("state directory " + settings.state_dir + ": not a directory");
    return whoisd::StateDb::open(whoisd::state_db_path(settings.state_dir), mode);
  }
};

void cmd_top(Common& c, const std::string& since_text, std::size_t limit) {
  auto since = duration_arg("--since", since_text);
  auto db = c.open(whoisd::StateDb::Mode::read_only);
  const UnixSeconds start = period_start(c.clock.now(), since);
  auto top = whoisd::top_sources(db, start * 1'000'000, limit);
  if (c.json) {
    std::vector<std::string> items;
    for (const auto& t : top) {
      items.push_back(JsonObject()
                          .str("source", t.source)
                          .num("queries", t.queries)
                          .num("not_counted", t.not_counted)
                          .raw("outcomes", json_counts(t.outcomes))
                          .str("first", iso_us(t.first_us))
                          .str("last", iso_us(t.last_us))
                          .done());
    }
    std::cout << JsonObject()
                     .str("since", whoisd::log::iso8601_utc(start))
                     .raw("sources", json_array(items))
                     .done()
              << "\n";
    return;
  }
  std::cout << "Sources with most queries since " << whoisd::log::iso8601_utc(start) << " (" << since_text
            << "), as the limit counts them (refusals and timeouts not counted):\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : top)
    rows.push_back({t.source, std::to_string(t.queries), outcome_breakdown(t.outcomes),
                    iso_us(t.last_us).substr(0, 19) + "Z"});
  if (rows.empty())
    std::cout << "(no queries logged in this period)\n";
  else
    print_table({"SOURCE", "QUERIES", "OUTCOMES", "LAST"}, rows);
}

void cmd_history(Common& c, const std::string& source_text, const std::string& since_text, std::size_t limit) {
  std::string source = source_arg(source_text, c.settings.ipv6_prefix);
  auto since = duration_arg("--since", since_text);
  auto db = c.open(whoisd::StateDb::Mode::read_only);
  UnixSeconds now = c.clock.now();
  const UnixSeconds start = period_start(now, since);
  auto h = whoisd::source_history(db, source, start * 1'000'000, limit, now);
  if (c.json) {
    std::vector<std::string> queries, events;
    for (const auto& q : h.queries) {
      JsonObject o;
      o.str("time", iso_us(q.time_us)).num("time_us", q.time_us).str("client", q.client);
      optional_str(o, "proxy_peer", q.proxy_peer);
      queries.push_back(o.str("query", q.query).str("outcome", q.outcome).num("answer_us", q.answer_us).done());
    }
    for (const auto& e : h.events) {
      JsonObject o;
      o.str("time", whoisd::log::iso8601_utc(e.time)).str("kind", e.kind).num("episode", e.episode);
      optional_time(o, "until", e.until).str("reason", e.reason);
      events.push_back(optional_str(o, "operator", e.operator_name).done());
    }
    JsonObject o;
    o.str("source", source).str("since", whoisd::log::iso8601_utc(start));
    if (h.suspended_until)
      o.str("suspended_until", whoisd::log::iso8601_utc(*h.suspended_until)).boolean("manual", h.manual);
    else
      o.null("suspended_until").boolean("manual", false);
    std::cout << o.num("episodes", h.episodes)
                     .num("queries_total", h.queries_total)
                     .num("not_counted", h.rows_total - h.queries_total)
                     .raw("outcomes", json_counts(h.outcomes))
                     .raw("queries", json_array(queries))
                     .raw("events", json_array(events))
                     .done()
              << "\n";
    return;
  }
  std::cout << "Source " << source << " since " << whoisd::log::iso8601_utc(start) << ": " << h.queries_total
            << " queries as the limit counts them";
  if (!h.outcomes.empty()) std::cout << " (" << outcome_breakdown(h.outcomes) << ")";
  if (h.suspended_until && h.manual) {
    std::cout << "; suspended by an operator until " << whoisd::log::iso8601_utc(*h.suspended_until);
    if (h.episodes) std::cout << ", " << h.episodes << " episode(s) remembered";
  } else if (h.suspended_until)
    std::cout << "; suspended until " << whoisd::log::iso8601_utc(*h.suspended_until) << " (episode " << h.episodes
              << ")";
  else if (h.episodes)
    std::cout << "; not suspended, " << h.episodes << " episode(s) remembered";
  std::cout << "\n\nAbuse events:\n";
  if (h.events.empty()) {
    std::cout << "(none)\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : h.events)
      rows.push_back({whoisd::log::iso8601_utc(e.time), e.kind, e.episode ? std::to_string(e.episode) : "-",
                      e.until ? whoisd::log::iso8601_utc(e.until) : "-", e.operator_name.empty() ? "-" : e.operator_name,
                      e.reason});
    print_table({"TIME", "EVENT", "EPISODE", "UNTIL", "OPERATOR", "REASON"}, rows);
  }
  std::cout << "\nQuery log (newest first";
  if (h.rows_total > static_cast<std::int64_t>(h.queries.size()))
    std::cout << ", " << h.queries.size() << " of " << h.rows_total << " rows; --limit for more";
  std::cout << "):\n";
  if (h.queries.empty()) {
    std::cout << "(none)\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& q : h.queries)
      rows.push_back({iso_us(q.time_us), q.client, q.proxy_peer.empty() ? "-" : q.proxy_peer, q.outcome,
                      std::to_string(q.answer_us), q.query});
    print_table({"TIME", "CLIENT", "VIA PROXY", "OUTCOME", "ANSWER_US", "QUERY"}, rows);
  }
}

void cmd_suspensions(Common& c) {
  auto db = c.open(whoisd::StateDb::Mode::read_only);
  UnixSeconds now = c.clock.now();
  auto active = whoisd::active_suspensions(db, now);
  auto pending = whoisd::pending_admin_actions(db);
  if (c.json) {
    std::vector<std::string> items, queued;
    for (const auto& s : active) {
      JsonObject o;
      o.str("source", s.source).num("episode", s.episodes).boolean("manual", s.manual);
      optional_time(o, "since", s.since).str("until", whoisd::log::iso8601_utc(s.until));
      o.num("remaining_seconds", s.until - now);
      optional_str(o, "reason", s.reason.value_or(""));
      items.push_back(optional_str(o, "operator", s.operator_name).done());
    }
    for (const auto& a : pending)
      queued.push_back(JsonObject()
                           .num("id", a.id)
                           .str("action", a.action)
                           .str("source", a.source)
                           .num("hours", a.hours)
                           .str("requested_at", whoisd::log::iso8601_utc(a.requested_at))
                           .str("reason", a.reason)
                           .str("operator", a.operator_name)
                           .done());
    std::cout << JsonObject()
                     .str("now", whoisd::log::iso8601_utc(now))
                     .raw("suspensions", json_array(items))
                     .raw("pending_actions", json_array(queued))
                     .done()
              << "\n";
    return;
  }
  if (active.empty()) {
    std::cout << "No suspensions in force.\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : active)
      rows.push_back({s.source, s.episodes ? std::to_string(s.episodes) : "-", s.manual ? "operator" : "limit",
                      s.since ? whoisd::log::iso8601_utc(s.since) : "-", whoisd::log::iso8601_utc(s.until),
                      remaining(s.until - now), s.operator_name.empty() ? "-" : s.operator_name,
                      s.reason ? *s.reason : "- (not recorded with it)"});
    print_table({"SOURCE", "EPISODE", "BY", "SINCE", "UNTIL", "REMAINING", "OPERATOR", "REASON"}, rows);
  }
  if (!pending.empty()) {
    std::cout << "\nQueued for the daemon (not applied yet):\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : pending)
      rows.push_back({std::to_string(a.id), a.action + (a.action == "suspend" ? " " + std::to_string(a.hours) + "h" : ""),
                      a.source, whoisd::log::iso8601_utc(a.requested_at), a.operator_name, a.reason});
    print_table({"ID", "ACTION", "SOURCE", "REQUESTED", "OPERATOR", "REASON"}, rows);
  }
}

// The exit statuses of whoisd-admin (--help's footer and README.md list them).
constexpr int kExitDone = 0;
constexpr int kExitFailed = 1;          // a file or the state database, or the daemon refused the command
constexpr int kExitUsage = 2;           // the command line
constexpr int kExitNothingToLift = 3;   // lift: the source was not suspended (nothing recorded)
constexpr int kExitNotApplied = 4;      // lift/suspend queued, not applied yet

// Queues lift/suspend, then, when a daemon holds the state directory, waits up to
// `wait` for it to apply the command. With none, it says so at once: the command is
// applied at the daemon's next start, before any query.
int cmd_action(Common& c, whoisd::AdminAction action, std::chrono::milliseconds wait) {
  auto db = c.open(whoisd::StateDb::Mode::read_write);
  action.requested_at = c.clock.now();
  std::int64_t id = whoisd::queue_admin_action(db, action);
  const whoisd::StateDirHolder daemon = whoisd::state_dir_holder(c.settings.state_dir);
  using Status = whoisd::StateDirHolder::Status;
  std::string what = action.action == "lift" ? "lift the suspension of " + action.source
                                             : "suspend " + action.source + " for " + std::to_string(action.hours) + " h";
  if (!c.json)
    std::cout << "Queued action " << id << ": " << what << " (reason: " << action.reason << ", operator "
              << action.operator_name << ").\n";
  auto deadline = std::chrono::steady_clock::now() + wait;
  std::optional<whoisd::AdminAction> applied;
  while (daemon.status != Status::free) {
    auto row = whoisd::find_admin_action(db, id);
    if (row && row->applied_at) {
      applied = row;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // The daemon took the command up but would not carry it out (an exempt source, a
  // prefix length it does not key by): a failure for the operator's script too.
  const bool refused = applied && applied->result.rfind(whoisd::kActionRefused, 0) == 0;
  const bool nothing_to_lift = applied && applied->result == whoisd::kNothingToLift;
  const int status = !applied ? kExitNotApplied : refused ? kExitFailed : nothing_to_lift ? kExitNothingToLift : kExitDone;
  if (c.json) {
    JsonObject o;
    o.num("id", id).str("action", action.action).str("source", action.source).num("hours", action.hours);
    o.str("reason", action.reason).str("operator", action.operator_name);
    if (daemon.status == Status::unknown)
      o.null("daemon_running");
    else
      o.boolean("daemon_running", daemon.status == Status::held);
    o.boolean("applied", applied.has_value());
    if (applied)
      o.str("applied_at", whoisd::log::iso8601_utc(*applied->applied_at)).str("result", applied->result);
    else
      o.null("applied_at").null("result");
    std::cout << o.boolean("refused", refused).done() << "\n";
    return status;
  }
  const std::string by = daemon.pid.empty() ? "whoisd" : "whoisd (process " + daemon.pid + ")";
  if (refused) {
    std::cout << "Refused by " << by << " at " << whoisd::log::iso8601_utc(*applied->applied_at) << ".\n";
    std::cerr << "whoisd-admin: " << action.action << " " << action.source << ": "
              << applied->result.substr(whoisd::kActionRefused.size()) << "\n";
  } else if (applied) {
    std::cout << "Applied by " << by << " at " << whoisd::log::iso8601_utc(*applied->applied_at) << ": "
              << applied->result << ".\n";
    if (nothing_to_lift) std::cerr << "whoisd-admin: lift " << action.source << ": " << applied->result << "\n";
  } else if (daemon.status == Status::free) {
    std::cout << "No whoisd holds this state directory (" << c.settings.state_dir
              << "): queued, applied at its next start, before it answers any query.\n";
  } else if (daemon.status == Status::held) {
    std::cout << "Not applied " << (wait.count() > 0 ? "within " + whoisd::format_duration(wait) : "yet (--wait 0s)")
              << " by the " << by << " that holds this state directory: it stays queued, and the daemon applies it "
              << "at its next state round (if that is late, its log says why: state_write_failed).\n";
  } else {
    std::cout << "Not applied within " << whoisd::format_duration(wait) << "; whether a whoisd runs on this state "
              << "directory is unknown (" << daemon.error << "): a running one applies it within a second, "
              << "else it is applied at the daemon's next start.\n";
  }
  return status;
}

void cmd_purge(Common& c, const std::optional<std::string>& retention_text, bool allow_empty) {
  std::string text = retention_text ? *retention_text : c.settings.retention.value_or("90d");
  const std::string option = retention_text ? "--retention" : "[state] retention";
  auto retention = duration_arg(option, text);
  // The daemon's bounds ([state] retention), said as its configuration check says them.
  if (retention < whoisd::kMinRetention)
    throw UsageError(option + ": '" + text + "' is shorter than the shortest retention, " +
                     whoisd::format_duration(whoisd::kMinRetention) + " (as [state] retention)");
  if (retention > whoisd::kMaxRetention)
    throw UsageError(option + ": '" + text + "' is longer than the longest retention, " +
                     whoisd::format_duration(whoisd::kMaxRetention) + " (as [state] retention)");
  auto db = c.open(whoisd::StateDb::Mode::read_write);
  UnixSeconds cutoff = c.clock.now() - retention.count();
  // The daemon purges only by a wall clock it has seen keep pace with the monotonic
  // clock; this tool cannot, so it refuses the one outcome a clock set far ahead
  // makes, and no routine purge does: the whole query log gone.
  if (const auto newest = whoisd::newest_logged_query(db); newest && *newest < cutoff && !allow_empty)
    throw UsageError("the cutoff " + whoisd::log::iso8601_utc(cutoff) + " (now " +
                     whoisd::log::iso8601_utc(c.clock.now()) + " less " + text +
                     ") is after the newest logged query, " + whoisd::log::iso8601_utc(*newest) +
                     ": this purge would empty the query log. Nothing purged. If this machine's clock is "
                     "right, repeat with --allow-empty");
  auto counts = whoisd::purge_all(db, cutoff);
  if (c.json) {
    std::cout << JsonObject()
                     .str("cutoff", whoisd::log::iso8601_utc(cutoff))
                     .num("query_log", static_cast<std::int64_t>(counts.query_log))
                     .num("abuse_events", static_cast<std::int64_t>(counts.abuse_events))
                     .num("admin_actions", static_cast<std::int64_t>(counts.admin_actions))
                     .done()
              << "\n";
    return;
  }
  std::cout << "Purged rows older than " << whoisd::log::iso8601_utc(cutoff) << " (" << text
            << "): " << counts.query_log << " queries, " << counts.abuse_events << " abuse events, "
            << counts.admin_actions << " applied admin actions.\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"whoisd-admin: review and act on the whoisd daemon's abuse state and query log"};
  app.footer(
      std::string("Without --state-dir and --config, the state directory is [state] dir of ") + kDefaultConfig +
      ".\n"
      "lift and suspend are queued in the state database; a running daemon applies them within a second\n"
      "and records them in the abuse log. When no whoisd holds the state directory, the tool says so at once:\n"
      "they are applied at the daemon's next start. suspend never shortens a suspension in force: one that\n"
      "ends later is kept, and said (to shorten it, lift it first).\n"
      "A state database of an older schema version (1 to 4) is upgraded by the daemon when it starts, not by\n"
      "this tool: restart whoisd after an upgrade, then run whoisd-admin.\n"
      "Exit status: 0 done; 1 failed (a file or the state database, or the daemon refused the command: the\n"
      "message says why); 2 bad command line; 3 lift: the source was not suspended, nothing to lift (nothing\n"
      "recorded); 4 lift/suspend queued, not applied yet: no whoisd holds the state directory (applied at its\n"
      "next start), or the running one had not applied it when --wait ran out.");
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "whoisd-admin " + std::string(whoisd::version()));
  Common c;
  app.add_option("--state-dir", c.state_dir, "The daemon's state directory (holds state.sqlite)");
  app.add_option("--config", c.config_file, "The daemon's configuration file: its [state] dir is used")
      ->check(CLI::ExistingFile);
  app.add_option("--ipv6-prefix", c.ipv6_prefix, "IPv6 source prefix length (default: [limits] ipv6_prefix, or 64)")
      ->check(CLI::Range(1, 128));
  app.add_flag("--json", c.json, "Output JSON for scripts");

  std::string since = "24h";
  std::size_t limit = 20;
  auto* top = app.add_subcommand("top", "Sources with most queries in a period (as the limit counts them), by outcome");
  top->footer(
      "QUERIES counts what the limit counts: the queries answered (found, no_match, invalid, help) and those\n"
      "whose answer failed (error). OUTCOMES lists them, then, as not counted, the refusals (limit_crossed,\n"
      "suspended, too_many_connections, and malformed_proxy_header: a trusted proxy's PROXY header that did\n"
      "not parse, answered as invalid before the limit) and the timeouts (connected, sent no line).\n" +
      top->get_footer());
  top->add_option("--since", since, "Period back from now (24h, 7d, ...)")->capture_default_str();
  top->add_option("--limit", limit, "How many sources")->capture_default_str()->check(CLI::Range(1, 1'000'000));

  // What the limiter counts against (SPEC §4): the IPv6 network's length is configured.
  const std::string kSourceHelp =
      "IPv4 address, or IPv6 address or network: an IPv6 source is the /N network that holds the address, N "
      "being [limits] ipv6_prefix or --ipv6-prefix (64 by default); a network given must be a /N";
  std::string source, history_since = "7d";
  std::size_t history_limit = 50;
  auto* history = app.add_subcommand(
      "history", "One source's query log rows and abuse events; its queries counted as the limit counts them");
  history->add_option("SOURCE", source, kSourceHelp)->required();
  history->add_option("--since", history_since, "Period back from now")->capture_default_str();
  history->add_option("--limit", history_limit, "Most recent queries and events shown")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));

  auto* suspensions = app.add_subcommand("suspensions", "Suspensions in force, and actions not applied yet");

  std::string reason, operator_name = default_operator(), wait_text = "3s";
  bool forget = false;
  auto* lift = app.add_subcommand("lift", "End a source's suspension (in the running daemon within a second)");
  lift->add_option("SOURCE", source, kSourceHelp)->required();
  lift->add_option("--reason", reason, "Why (recorded in the abuse log)")->required();
  lift->add_flag("--forget-episodes", forget, "Also forget its episodes: the next suspension is the first again");

  std::string hours_text;
  constexpr int kMaxHours = 24 * 366;
  auto* suspend = app.add_subcommand("suspend", "Impose a suspension (in the running daemon within a second)");
  suspend->add_option("SOURCE", source, kSourceHelp)->required();
  suspend->add_option("--hours", hours_text,
                      "How long in hours, counted from when the daemon applies it (1 to " +
                          std::to_string(kMaxHours) + "; 48, 48h and 2d are the same)")
      ->required();
  suspend->add_option("--reason", reason, "Why (recorded in the abuse log)")->required();
  for (auto* sub : {lift, suspend}) {
    sub->add_option("--operator", operator_name, "Who (default: the login name)")->capture_default_str();
    sub->add_option("--wait", wait_text, "How long to wait for the daemon to confirm (0s: do not wait)")
        ->capture_default_str();
  }

  std::optional<std::string> retention;
  auto* purge = app.add_subcommand("purge", "Remove log rows older than the retention");
  purge->add_option("--retention", retention,
                    "Keep this much, " + whoisd::format_duration(whoisd::kMinRetention) + " to " +
                        whoisd::format_duration(whoisd::kMaxRetention) + " (default: [state] retention, or 90d)");
  bool allow_empty = false;
  purge->add_flag("--allow-empty", allow_empty,
                  "Purge even when every logged query is older than the retention (refused without it: "
                  "that is what a clock set far ahead does)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the message, or --help / --version
    return code == 0 ? kExitDone : kExitUsage;
  }

  try {
    c.settings = settings_from_command_line(c.state_dir, c.config_file);
    if (c.ipv6_prefix) c.settings.ipv6_prefix = c.ipv6_prefix;

    if (top->parsed()) {
      cmd_top(c, since, limit);
    } else if (history->parsed()) {
      cmd_history(c, source, history_since, history_limit);
    } else if (suspensions->parsed()) {
      cmd_suspensions(c);
    } else if (lift->parsed() || suspend->parsed()) {
      whoisd::AdminAction action;
      action.action = lift->parsed() ? "lift" : "suspend";
      action.source = source_arg(source, c.settings.ipv6_prefix);
      action.hours = lift->parsed() ? 0 : hours_arg(hours_text, kMaxHours);
      action.forget_episodes = forget;
      action.reason = text_arg("--reason", reason);
      action.operator_name = text_arg("--operator", operator_name);
      if (reason.find_first_not_of(' ') == std::string::npos) throw UsageError("--reason: must not be empty");
      std::string error;
      auto wait = whoisd::parse_duration(wait_text, &error);
      if (!wait) throw UsageError("--wait: " + error);
      return cmd_action(c, action, *wait);
    } else if (purge->parsed()) {
      cmd_purge(c, retention, allow_empty);
    }
  } catch (const UsageError& e) {
    std::cerr << "whoisd-admin: " << e.what() << "\n";
    return kExitUsage;
  } catch (const whoisd::StateDbError& e) {
    std::cerr << "whoisd-admin: " << e.what() << "\n";
    return kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "whoisd-admin: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitDone;
}
