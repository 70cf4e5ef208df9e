// whoisd-admin, the built binary, run as a subprocess against a state directory that
// a live limiter and persister (as in the daemon) are using.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "common/duration.h"
#include "common/log.h"
#include "common/version.h"
#include "json_lite.h"
#include "policy/limiter.h"
#include "state/query_log.h"
#include "state/retention.h"
#include "state/state_db.h"
#include "state/state_dir_lock.h"
#include "state/state_persister.h"
#include "state/state_reports.h"
#include "state_test_util.h"
#include "support/temp_dir.h"
#include "support/test_address.h"

using namespace std::chrono_literals;
using whoisd::Decision;
using whoisd::IpAddress;
using whoisd::Limiter;
using whoisd::LimiterConfig;
using whoisd::ManualClock;
using whoisd::QueryLog;
using whoisd::QueryLogEntry;
using whoisd::QueryOutcome;
using whoisd::StateDb;
using whoisd::StatePersister;
using whoisd::test::Json;
using whoisd::test::parse_json;
using whoisd::test::sql_int;
using whoisd::test::TempDir;
using whoisd::test::ip;

namespace {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

const std::string kAdmin = std::string(WHOISD_BINARY_DIR) + "/whoisd/whoisd-admin";

// Runs `argv` (no shell between), its standard output and error collected apart.
Run run(const TempDir& dir, const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + quote(a);
  std::string err_file = dir.file("admin.stderr");
  cmd += " 2>" + quote(err_file);
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_file);
  std::stringstream ss;
  ss << err.rdbuf();
  r.err = ss.str();
  return r;
}

Run admin(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), kAdmin);
  return run(dir, args);
}

// whoisd-admin with /etc/whoisd/whoisd.conf holding `config` (absent when empty), in a
// private mount namespace whose /etc is an overlay of the real one: nothing outside
// it sees the file. nullopt where that cannot be made (not root, no overlayfs).
std::optional<Run> admin_with_etc_config(const TempDir& dir, const std::string& config, std::vector<std::string> args) {
  if (run(dir, {"unshare", "--mount", "--propagation", "private", "true"}).exit_code != 0) return std::nullopt;
  const std::string overlay = dir.file("etc-overlay");
  std::filesystem::create_directories(overlay);
  const char* script =
      "mount -t tmpfs tmpfs \"$1\" || exit 77\n"
      "mkdir \"$1/upper\" \"$1/work\" || exit 77\n"
      "mount -t overlay overlay -o \"lowerdir=/etc,upperdir=$1/upper,workdir=$1/work\" /etc || exit 77\n"
      "mkdir -p /etc/whoisd && rm -f /etc/whoisd/whoisd.conf || exit 77\n"
      "if [ -n \"$2\" ]; then printf '%s' \"$2\" > /etc/whoisd/whoisd.conf || exit 77; fi\n"
      "shift 2\n"
      "exec \"$@\"\n";
  args.insert(args.begin(), {"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", overlay,
                             config, kAdmin});
  Run r = run(dir, args);
  if (r.exit_code == 77) return std::nullopt;
  return r;
}

Json admin_json(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"--state-dir", dir.path(), "--json"});
  Run r = admin(dir, args);
  INFO("whoisd-admin stderr: " << r.err << "\nstdout: " << r.out);
  REQUIRE(r.exit_code == 0);
  return parse_json(r.out);
}

Run admin_text(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"--state-dir", dir.path()});
  return admin(dir, args);
}

QueryLogEntry logged(const char* client, const char* query, QueryOutcome outcome, std::int64_t time_us) {
  QueryLogEntry e;
  e.time_us = time_us;
  e.client = ip(client);
  e.query = query;
  e.outcome = outcome;
  e.answer_us = 17;
  return e;
}

// Waits (bounded) until the persister has stored a suspension of `source`.
bool stored_suspension(const std::string& path, const std::string& source, whoisd::UnixSeconds now) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    StateDb db = StateDb::open(path, StateDb::Mode::read_only);
    for (const auto& s : whoisd::active_suspensions(db, now))
      if (s.source == source) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

TEST_CASE("whoisd-admin against live state: top, history, suspensions, lift, suspend, purge",
          "[state][admin][cli]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  // The admin tool reads the system clock; the "daemon" here starts at the same time.
  ManualClock clock(whoisd::SystemClock().now());
  const std::int64_t now_us = clock.now() * 1'000'000;
  LimiterConfig config;
  config.queries = 5;
  config.exempt.push_back(*whoisd::Network::parse("203.0.113.0/24"));
  Limiter limiter(config, clock);
  whoisd::StateDirLock daemon_lock(dir.path());  // as the daemon holds it: the tool sees a daemon running
  StatePersister persister(path, limiter, clock, {.interval = 200ms});
  persister.load();
  persister.start();

  {
    QueryLog log(path);
    log.start();
    for (int i = 0; i < 6; ++i)
      log.record(logged("192.0.2.1", "exemplo.pt", i < 4 ? QueryOutcome::found : QueryOutcome::no_match,
                        now_us - 60'000'000 + i));
    log.record(logged("192.0.2.1", "bad query", QueryOutcome::limit_crossed, now_us - 50'000'000));
    for (int i = 0; i < 3; ++i)
      log.record(logged("2001:db8:1:2::99", "açores.pt", QueryOutcome::found, now_us - 40'000'000 + i));
    log.record(logged("198.51.100.3", "x.pt", QueryOutcome::invalid, now_us - 30'000'000));
    log.record(logged("198.51.100.3", "old.pt", QueryOutcome::found, now_us - 3 * 86'400'000'000LL));
    // Connections the limiter never counted: no line in time, and refused at accept.
    for (int i = 0; i < 3; ++i) log.record(logged("198.51.100.3", "", QueryOutcome::timeout, now_us - 20'000'000 + i));
    log.record(logged("198.51.100.3", "", QueryOutcome::too_many_connections, now_us - 19'000'000));
    // A trusted proxy's PROXY header that did not parse: answered as invalid, refused
    // before the limiter (198.51.100.3 as a proxy here).
    log.record(logged("198.51.100.3", "PROXY TCP4 nonsense", QueryOutcome::malformed_proxy_header,
                      now_us - 18'000'000));
    log.stop();
    REQUIRE(log.counters().written == 17);
  }
  for (int i = 0; i < 6; ++i) limiter.check(ip("192.0.2.1"));  // crosses: episode 1
  REQUIRE(limiter.check(ip("192.0.2.1")).verdict == Decision::Verdict::suspended);
  REQUIRE(stored_suspension(path, "192.0.2.1", clock.now()));

  SECTION("top") {
    // QUERIES is what the limiter counts: not the query that crossed the limit, nor
    // 198.51.100.3's timeouts, refused connection and malformed PROXY header (which
    // would put it second).
    Json top = admin_json(dir, {"top", "--since", "1h", "--limit", "2"});
    REQUIRE(top["sources"].a.size() == 2);
    CHECK(top["sources"][0]["source"].s == "192.0.2.1");
    CHECK(top["sources"][0]["queries"].integer() == 6);
    CHECK(top["sources"][0]["not_counted"].integer() == 1);
    CHECK(top["sources"][0]["outcomes"]["found"].integer() == 4);
    CHECK(top["sources"][0]["outcomes"]["no_match"].integer() == 2);
    CHECK(top["sources"][0]["outcomes"]["limit_crossed"].integer() == 1);
    CHECK(top["sources"][1]["source"].s == "2001:db8:1:2::/64");
    CHECK(top["sources"][1]["queries"].integer() == 3);
    // The period matters: 198.51.100.3's old query is outside 1h, inside 7d.
    Json week = admin_json(dir, {"top", "--since", "7d"});
    REQUIRE(week["sources"].a.size() == 3);
    CHECK(week["sources"][2]["source"].s == "198.51.100.3");
    CHECK(week["sources"][2]["queries"].integer() == 2);
    CHECK(week["sources"][2]["not_counted"].integer() == 5);
    CHECK(week["sources"][2]["outcomes"]["timeout"].integer() == 3);
    CHECK(week["sources"][2]["outcomes"]["too_many_connections"].integer() == 1);
    CHECK(week["sources"][2]["outcomes"]["malformed_proxy_header"].integer() == 1);
    CHECK(week["sources"][2]["outcomes"]["invalid"].integer() == 1);

    Run table = admin_text(dir, {"top", "--since", "1h"});
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out, Catch::Contains("SOURCE") && Catch::Contains("QUERIES") &&
                              Catch::Contains("found 4, no_match 2; not counted: limit_crossed 1") &&
                              Catch::Contains("invalid 1; not counted: timeout 3, malformed_proxy_header 1, "
                                              "too_many_connections 1"));
  }

  SECTION("history") {
    Json h = admin_json(dir, {"history", "192.0.2.1"});
    CHECK(h["source"].s == "192.0.2.1");
    CHECK(h["queries_total"].integer() == 6);  // as the limiter counts them: not the one that crossed it
    CHECK(h["not_counted"].integer() == 1);
    CHECK(h["outcomes"]["limit_crossed"].integer() == 1);
    CHECK(h["queries"].a.size() == 7);  // every row of the log
    CHECK(h["queries"][0]["outcome"].s == "limit_crossed");  // newest first
    CHECK(h["queries"][0]["proxy_peer"].type == Json::Type::null);
    CHECK(h["episodes"].integer() == 1);
    CHECK(h["suspended_until"].type == Json::Type::string);
    CHECK_FALSE(h["manual"].b);
    REQUIRE(h["events"].a.size() == 1);
    CHECK(h["events"][0]["kind"].s == "suspension_started");
    CHECK(h["events"][0]["episode"].integer() == 1);
    CHECK(h["events"][0]["until"].type == Json::Type::string);
    CHECK(h["events"][0]["operator"].type == Json::Type::null);  // the limit's: no operator, null as elsewhere
    Json timeouts = admin_json(dir, {"history", "198.51.100.3"});
    CHECK(timeouts["queries_total"].integer() == 2);
    CHECK(timeouts["not_counted"].integer() == 5);
    CHECK(timeouts["outcomes"]["malformed_proxy_header"].integer() == 1);

    // Any address of the /64 names the /64.
    Json v6 = admin_json(dir, {"history", "2001:db8:1:2:ffff::1", "--limit", "2"});
    CHECK(v6["source"].s == "2001:db8:1:2::/64");
    CHECK(v6["queries_total"].integer() == 3);
    CHECK(v6["queries"].a.size() == 2);
    CHECK(v6["queries"][0]["query"].s == "açores.pt");
    Json prefix = admin_json(dir, {"history", "2001:db8:1:2::/64"});
    CHECK(prefix["queries_total"].integer() == 3);

    Run table = admin_text(dir, {"history", "192.0.2.1"});
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out, Catch::Contains("suspension_started") && Catch::Contains("exemplo.pt") &&
                              Catch::Contains("suspended until") &&
                              Catch::Contains(": 6 queries as the limit counts them (found 4, no_match 2; not "
                                              "counted: limit_crossed 1)"));
  }

  SECTION("suspensions, lift and suspend reach the running limiter") {
    Json s = admin_json(dir, {"suspensions"});
    REQUIRE(s["suspensions"].a.size() == 1);
    CHECK(s["suspensions"][0]["source"].s == "192.0.2.1");
    CHECK(s["suspensions"][0]["episode"].integer() == 1);
    CHECK_FALSE(s["suspensions"][0]["manual"].b);
    CHECK(s["suspensions"][0]["remaining_seconds"].integer() > 23 * 3600);
    CHECK(s["suspensions"][0]["reason"].s == "limit of 5 queries crossed");
    CHECK(s["suspensions"][0]["operator"].type == Json::Type::null);
    CHECK(s["pending_actions"].a.empty());

    auto t0 = std::chrono::steady_clock::now();
    Json lift = admin_json(dir, {"lift", "192.0.2.1", "--reason", "false positive", "--operator", "ana"});
    auto elapsed = std::chrono::steady_clock::now() - t0;
    INFO("lift confirmed after " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
    CHECK(lift["applied"].b);
    CHECK_THAT(lift["result"].s, Catch::StartsWith("lifted (was suspended until"));
    CHECK(limiter.inspect(limiter.key_of(ip("192.0.2.1")))->suspended_until <= clock.now());

    Json suspend = admin_json(dir, {"suspend", "2001:db8:1:2::5", "--hours", "3", "--reason", "scraping",
                                    "--operator", "rui"});
    CHECK(suspend["applied"].b);
    CHECK(suspend["daemon_running"].b);
    CHECK(suspend["source"].s == "2001:db8:1:2::/64");
    Decision d = limiter.check(ip("2001:db8:1:2:abcd::1"));
    CHECK(d.verdict == Decision::Verdict::suspended);
    CHECK(d.manual);
    CHECK(d.suspended_until >= clock.now() + 3 * 3600 - 5);

    Run table = admin_text(dir, {"suspensions"});
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out, Catch::Contains("2001:db8:1:2::/64") && Catch::Contains("operator") &&
                              Catch::Contains("REMAINING") && Catch::Contains("REASON"));
    CHECK_THAT(table.out, Catch::Matches("(.|\\n)* rui +scraping\\n(.|\\n)*"));
    Json reasons = admin_json(dir, {"suspensions"});
    REQUIRE(reasons["suspensions"].a.size() == 1);
    CHECK(reasons["suspensions"][0]["reason"].s == "scraping");
    CHECK(reasons["suspensions"][0]["operator"].s == "rui");
    CHECK_THAT(table.out, !Catch::Contains("192.0.2.1"));

    Run history = admin_text(dir, {"history", "192.0.2.1"});
    CHECK_THAT(history.out, Catch::Contains("suspension_lifted") && Catch::Contains("false positive") &&
                                Catch::Contains("ana"));
    // An operator's suspension of a source without episodes says so, not "episode 0".
    Json manual = admin_json(dir, {"history", "2001:db8:1:2::/64"});
    CHECK(manual["manual"].b);
    CHECK(manual["episodes"].integer() == 0);
    Run manual_text = admin_text(dir, {"history", "2001:db8:1:2::/64"});
    CHECK_THAT(manual_text.out, Catch::Contains("; suspended by an operator until ") &&
                                    !Catch::Contains("episode 0") && !Catch::Contains("remembered"));
    CHECK_THAT(table.out, Catch::Matches("(.|\\n)*2001:db8:1:2::/64 +- +operator(.|\\n)*"));
    // A lift of a source that is not suspended: said, a status of its own, and no
    // lift in the abuse log of a suspension that never was.
    Run text_lift = admin_text(dir, {"lift", "192.0.2.99", "--reason", "check"});
    CHECK(text_lift.exit_code == 3);
    CHECK_THAT(text_lift.out, Catch::Contains("Queued action") && Catch::Contains("not suspended: nothing to lift"));
    CHECK_THAT(text_lift.err, Catch::Contains("192.0.2.99: not suspended: nothing to lift"));
    CHECK(sql_int(path, "SELECT count(*) FROM abuse_events WHERE source = '192.0.2.99'") == 0);
  }

  SECTION("suspend never shortens a suspension in force: the later end is kept, and said") {
    const auto before = *limiter.inspect(limiter.key_of(ip("192.0.2.1")));  // the limit's 24 h
    const std::string end = whoisd::log::iso8601_utc(before.suspended_until);
    Run shorter = admin_text(dir, {"suspend", "192.0.2.1", "--hours", "1", "--reason", "scraping"});
    CHECK(shorter.exit_code == 0);
    CHECK_THAT(shorter.out, Catch::Contains("kept: already suspended until " + end +
                                            " by the limit (episode 1), later than the 1 h asked; to shorten it, "
                                            "lift it first"));
    Decision d = limiter.check(ip("192.0.2.1"));
    CHECK_FALSE(d.manual);
    CHECK(d.suspended_until == before.suspended_until);
    Json h = admin_json(dir, {"history", "192.0.2.1"});
    CHECK_FALSE(h["manual"].b);
    REQUIRE(h["events"].a.size() == 2);
    CHECK(h["events"][0]["kind"].s == "suspension_kept");
    CHECK(h["events"][0]["until"].s == end);
    CHECK(h["events"][0]["reason"].s == "scraping");
    Json s = admin_json(dir, {"suspensions"});
    REQUIRE(s["suspensions"].a.size() == 1);
    CHECK(s["suspensions"][0]["reason"].s == "limit of 5 queries crossed");  // still the limit's

    Json longer = admin_json(dir, {"suspend", "192.0.2.1", "--hours", "48", "--reason", "scraping again"});
    CHECK_THAT(longer["result"].s, Catch::StartsWith("suspended until ") &&
                                       Catch::EndsWith(" (it was suspended until " + end + " by the limit (episode 1))"));
    CHECK(limiter.check(ip("192.0.2.1")).manual);
    s = admin_json(dir, {"suspensions"});
    CHECK(s["suspensions"][0]["reason"].s == "scraping again");
  }

  SECTION("an action the daemon refuses fails, and says why") {
    // An exempt source is answered before any lookup: a suspension would never apply.
    Run exempt = admin_text(dir, {"suspend", "203.0.113.7", "--hours", "2", "--reason", "monitor gone wild"});
    CHECK(exempt.exit_code == 1);
    CHECK_THAT(exempt.err, Catch::Contains("203.0.113.7") && Catch::Contains("exempt"));
    CHECK(limiter.check(ip("203.0.113.7")).verdict == Decision::Verdict::exempt);
    Run exempt_json = admin(dir, {"--state-dir", dir.path(), "--json", "suspend", "203.0.113.8", "--hours", "2",
                                  "--reason", "x"});
    CHECK(exempt_json.exit_code == 1);
    Json j = parse_json(exempt_json.out);
    CHECK(j["applied"].b);
    CHECK(j["refused"].b);
    CHECK_THAT(j["result"].s, Catch::StartsWith("refused: 203.0.113.8 is exempt"));
    // A network of another prefix length than the daemon keys IPv6 sources by.
    Run prefix = admin_text(dir, {"--ipv6-prefix", "56", "lift", "2001:db8:1:200::/56", "--reason", "x"});
    CHECK(prefix.exit_code == 1);
    CHECK_THAT(prefix.err, Catch::Contains("/56"));
    // What it did carry out stays a success.
    CHECK(admin_json(dir, {"suspend", "203.0.114.7", "--hours", "2", "--reason", "x"})["refused"].b == false);
    Json h = admin_json(dir, {"history", "203.0.114.7"});
    CHECK(h["manual"].b);
  }

  SECTION("JSON stays valid whatever bytes a stored text holds") {
    {
      StateDb db = StateDb::open(path, StateDb::Mode::read_write);
      db.exec("INSERT INTO abuse_events (time, source, kind, reason, operator, episode, until) VALUES (" +
              std::to_string(clock.now()) + ", '192.0.2.1', 'suspension_lifted', CAST(X'6261640aff01' AS TEXT), "
              "CAST(X'c3a7e2' AS TEXT), 1, 0)");
    }
    Run r = admin(dir, {"--state-dir", dir.path(), "--json", "history", "192.0.2.1"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find('\xff') == std::string::npos);
    CHECK(r.out.find('\x01') == std::string::npos);
    CHECK_THAT(r.out, Catch::Contains(R"("bad\n\ufffd\u0001")") && Catch::Contains("\"\xc3\xa7\\ufffd\""));
    Json h = parse_json(r.out);
    CHECK(h["source"].s == "192.0.2.1");
    CHECK(h["events"][0]["until"].type == Json::Type::null);  // no end: null, as everywhere, never ""
  }

  SECTION("purge") {
    Json purged = admin_json(dir, {"purge", "--retention", "1d"});
    CHECK(purged["query_log"].integer() == 1);
    CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 16);
    Run again = admin_text(dir, {"purge"});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("Purged rows older than") && Catch::Contains("90d"));
    // "10m" for "10d": refused as the daemon's [state] retention would refuse it, nothing purged.
    Run too_short = admin_text(dir, {"purge", "--retention", "10m"});
    CHECK(too_short.exit_code == 2);
    CHECK_THAT(too_short.err, Catch::Contains("--retention: '10m' is shorter than the shortest retention, 1h"));
    CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 16);
    // A retention whose cutoff in microseconds overflows: refused at the daemon's
    // bound, nothing purged (it once wrapped to a cutoff in the future: everything).
    for (const char* text : {"22000000w", "3661d"}) {
      Run too_long = admin_text(dir, {"purge", "--retention", text});
      CHECK(too_long.exit_code == 2);
      CHECK_THAT(too_long.err, Catch::Contains(std::string("--retention: '") + text +
                                               "' is longer than the longest retention, " +
                                               whoisd::format_duration(whoisd::kMaxRetention)));
    }
    CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 16);
    CHECK(admin_text(dir, {"purge", "--retention", "3660d"}).exit_code == 0);  // the bound itself is taken
    CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 16);
  }

  SECTION("bad sources and periods are clear errors") {
    Run bad_source = admin_text(dir, {"history", "300.1.2.3"});
    CHECK(bad_source.exit_code == 2);
    CHECK_THAT(bad_source.err, Catch::Contains("300.1.2.3"));
    Run bad_prefix = admin_text(dir, {"suspend", "2001:db8::/48", "--hours", "1", "--reason", "x"});
    CHECK(bad_prefix.exit_code == 2);
    CHECK_THAT(bad_prefix.err, Catch::Contains("2001:db8::/48"));
    Run bad_period = admin_text(dir, {"top", "--since", "5x"});
    CHECK(bad_period.exit_code == 2);
    CHECK_THAT(bad_period.err, Catch::Contains("--since") && Catch::Contains("5x"));
    Run bare_number = admin_text(dir, {"purge", "--retention", "90"});
    CHECK(bare_number.exit_code == 2);
    Run no_hours = admin_text(dir, {"suspend", "192.0.2.1", "--reason", "x"});
    CHECK(no_hours.exit_code == 2);  // CLI11's own errors are a bad command line too
    Run bad_hours = admin_text(dir, {"suspend", "192.0.2.1", "--hours", "5x", "--reason", "x"});
    CHECK(bad_hours.exit_code == 2);
    CHECK_THAT(bad_hours.err, Catch::Contains("'5x' is not a whole number of hours"));
    for (const char* text : {"0", "0h", "-2", "h", "2dd", "2 d", "367d", "8785h", "99999999999999999999"}) {
      Run refused = admin_text(dir, {"suspend", "192.0.2.1", "--hours", text, "--reason", "x"});
      CHECK(refused.exit_code == 2);
      CHECK_THAT(refused.err, Catch::Contains(std::string("--hours: '") + text + "' is not a whole number of hours from 1 to 8784"));
    }
    Run sub_second = admin_text(dir, {"top", "--since", "500ms"});
    CHECK(sub_second.exit_code == 2);
    CHECK_THAT(sub_second.err, Catch::Contains("shorter than a second"));
    for (const char* text : {"a\x01b", "bad\xff", "tab\there"}) {
      Run bad_reason = admin_text(dir, {"lift", "192.0.2.1", "--reason", text});
      CHECK(bad_reason.exit_code == 2);
      CHECK_THAT(bad_reason.err, Catch::Contains("--reason: byte") && Catch::Contains("not printable UTF-8"));
    }
    Run bad_operator = admin_text(dir, {"lift", "192.0.2.1", "--reason", "x", "--operator", "ana\x1b[31m"});
    CHECK(bad_operator.exit_code == 2);
    CHECK_THAT(bad_operator.err, Catch::Contains("--operator: byte 4 (0x1b)"));
    // A period longer than the time since 1970 starts then.
    Json forever = admin_json(dir, {"top", "--since", "99999999w"});
    CHECK(forever["since"].s == "1970-01-01T00:00:00Z");
    CHECK(forever["sources"].a.size() == 3);
    CHECK(sql_int(path, "SELECT count(*) FROM admin_actions") == 0);  // nothing queued by a refused command
  }

  persister.stop();
}

TEST_CASE("whoisd-admin with no daemon: actions wait for the next start; state errors are clear",
          "[state][admin][cli]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());

  Run missing = admin_text(dir, {"suspensions"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains(path) && Catch::Contains("does not exist"));
  CHECK(access(path.c_str(), F_OK) != 0);  // not created by the tool

  {
    std::ofstream f(path + ".file");
  }
  Run not_a_dir = admin(dir, {"--state-dir", path + ".file", "top"});
  CHECK(not_a_dir.exit_code == 1);
  CHECK_THAT(not_a_dir.err, Catch::Contains(path + ".file: not a directory"));

  if (access("/etc/whoisd/whoisd.conf", F_OK) != 0) {  // else it is read (the next test case)
    Run nowhere = admin(dir, {"top"});
    CHECK(nowhere.exit_code == 2);
    CHECK_THAT(nowhere.err, Catch::Contains("--state-dir") && Catch::Contains("--config"));
  }

  StateDb::open(path, StateDb::Mode::create);
  // No process holds the state directory's lock: said at once, not after --wait.
  auto t0 = std::chrono::steady_clock::now();
  Run lift = admin(dir, {"--state-dir", dir.path(), "--json", "lift", "192.0.2.1", "--reason", "while down",
                         "--wait", "10s"});
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(lift.exit_code == 4);
  Json lift_json = parse_json(lift.out);
  CHECK_FALSE(lift_json["applied"].b);
  CHECK_FALSE(lift_json["daemon_running"].b);
  Json s = admin_json(dir, {"suspensions"});
  REQUIRE(s["pending_actions"].a.size() == 1);
  CHECK(s["pending_actions"][0]["action"].s == "lift");
  t0 = std::chrono::steady_clock::now();
  Run text = admin_text(dir, {"suspend", "192.0.2.2", "--hours", "1", "--reason", "x", "--wait", "10s"});
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(text.exit_code == 4);
  CHECK_THAT(text.out, Catch::Contains("suspend 192.0.2.2 for 1 h"));
  CHECK_THAT(text.out, Catch::Contains("No whoisd holds this state directory (" + dir.path() +
                                       "): queued, applied at its next start"));
  {
    // A daemon holds it but does not apply the command (here: no state writer runs).
    whoisd::StateDirLock daemon_lock(dir.path());
    Run late = admin_text(dir, {"lift", "192.0.2.3", "--reason", "x", "--wait", "300ms"});
    CHECK(late.exit_code == 4);
    CHECK_THAT(late.out, Catch::Contains("Not applied within 300ms by the whoisd (process " +
                                         std::to_string(getpid()) + ") that holds this state directory"));
  }
  CHECK(sql_int(path, "SELECT count(*) FROM admin_actions WHERE applied_at IS NULL") == 3);

  // With a unit, as the tool prints a length ("48h") and as --since and --wait take it.
  for (const auto& [given, hours] : {std::pair{"48h", 48}, std::pair{"2d", 48}, std::pair{"366d", 8784}}) {
    Run with_unit = admin_text(dir, {"suspend", "192.0.2.9", "--hours", given, "--reason", "x", "--wait", "0s"});
    CHECK(with_unit.exit_code == 4);
    CHECK_THAT(with_unit.out, Catch::Contains("suspend 192.0.2.9 for " + std::to_string(hours) + " h"));
  }

  // --config: [state] dir and [limits] ipv6_prefix from the daemon's file.
  std::string conf = dir.file("whoisd.conf");
  {
    std::ofstream f(conf);
    f << "[state]\ndir = \"" << dir.path() << "\"\n[limits]\nipv6_prefix = 48\n";
  }
  {
    std::ofstream f(conf);
    f << "[limits]\nqueries = 5\n";  // every key is optional: [state] dir is the daemon's default
  }
  Run default_dir = admin(dir, {"--config", conf, "top"});
  CHECK_THAT(default_dir.err, !Catch::Contains("missing"));
  if (default_dir.exit_code != 0) CHECK_THAT(default_dir.err, Catch::Contains("/var/lib/whoisd/state"));
  {
    std::ofstream f(conf);
    f << "[state]\ndir = \"" << dir.path() << "\"\n[limits]\nipv6_prefix = 48\n";
  }
  Run by_config = admin(dir, {"--config", conf, "--json", "history", "2001:db8:1:2::5"});
  CHECK(by_config.exit_code == 0);
  CHECK(parse_json(by_config.out)["source"].s == "2001:db8:1::/48");
  {
    std::ofstream f(conf);
    f << "[state]\ndir = 5\n";
  }
  Run bad_config = admin(dir, {"--config", conf, "top"});
  CHECK(bad_config.exit_code == 2);
  CHECK_THAT(bad_config.err, Catch::Contains(conf) && Catch::Contains("[state] dir"));
  {
    std::ofstream f(conf);
    f << "[state\n";
  }
  Run broken_config = admin(dir, {"--config", conf, "top"});
  CHECK(broken_config.exit_code == 2);
  CHECK_THAT(broken_config.err, Catch::Contains(conf) && Catch::Contains("line 1"));

  // A damaged state file is named, with the problem.
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << std::string(8192, 'x');
  }
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  Run corrupt = admin_text(dir, {"top"});
  CHECK(corrupt.exit_code == 1);
  CHECK_THAT(corrupt.err, Catch::Contains(path) && Catch::Contains("corrupt"));
}

TEST_CASE("whoisd-admin purge refuses to empty the query log unless told to", "[state][admin][cli]") {
  // What a wall clock set far ahead does to a purge: every row is older than the
  // cutoff. Here the rows are old instead (the tool reads the system clock).
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  const std::int64_t now_us = whoisd::SystemClock().now() * 1'000'000;
  {
    QueryLog log(path);
    log.start();
    log.record(logged("192.0.2.1", "a.pt", QueryOutcome::found, now_us - 3 * 86'400'000'000LL));
    log.record(logged("192.0.2.1", "b.pt", QueryOutcome::found, now_us - 2 * 86'400'000'000LL));
    log.stop();
    REQUIRE(log.counters().written == 2);
  }
  {
    StateDb db = StateDb::open(path, StateDb::Mode::read_only);
    auto newest = whoisd::newest_logged_query(db);
    REQUIRE(newest);
    CHECK(*newest == now_us / 1'000'000 - 2 * 86'400);
  }
  Run refused = admin_text(dir, {"purge", "--retention", "1d"});
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("is after the newest logged query") &&
                              Catch::Contains("this purge would empty the query log. Nothing purged") &&
                              Catch::Contains("--allow-empty"));
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 2);
  // A cutoff that keeps the newest row is a routine purge.
  CHECK(admin_text(dir, {"purge", "--retention", "60h"}).exit_code == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 1);
  Json purged = admin_json(dir, {"purge", "--retention", "1d", "--allow-empty"});
  CHECK(purged["query_log"].integer() == 1);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 0);
  CHECK(admin_text(dir, {"purge", "--retention", "1d"}).exit_code == 0);  // nothing left to protect
}

TEST_CASE("whoisd-admin --help says what a source is with the configured IPv6 prefix length", "[state][admin][cli]") {
  TempDir dir;
  for (const char* command : {"history", "lift", "suspend"}) {
    Run help = admin(dir, {command, "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("IPv6 source is the /N network that holds the address, N being [limits] "
                                         "ipv6_prefix or --ipv6-prefix (64 by default)") &&
                             !Catch::Contains("its /64") && !Catch::Contains("or /64"));
  }
}

TEST_CASE("whoisd-admin --version prints the version whoisd and whoisd-snapshot print", "[state][admin][cli]") {
  TempDir dir;
  Run version = admin(dir, {"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out == "whoisd-admin " + std::string(whoisd::version()) + "\n");
}

TEST_CASE("whoisd-admin with neither --config nor --state-dir reads /etc/whoisd/whoisd.conf", "[state][admin][cli]") {
  TempDir dir;
  StateDb::open(whoisd::state_db_path(dir.path()), StateDb::Mode::create);
  std::optional<Run> absent = admin_with_etc_config(dir, "", {"top"});
  if (!absent) {
    WARN("skipped: no private mount namespace with an overlay of /etc here (needs root)");
    return;
  }
  CHECK(absent->exit_code == 2);
  CHECK_THAT(absent->err, Catch::Contains("--state-dir DIR or --config FILE") &&
                              Catch::Contains("/etc/whoisd/whoisd.conf is read, and it does not exist"));

  // Its [state] dir and [limits] ipv6_prefix are used, as with --config.
  const std::string config = "[state]\ndir = \"" + dir.path() + "\"\n[limits]\nipv6_prefix = 48\n";
  std::optional<Run> read = admin_with_etc_config(dir, config, {"--json", "history", "2001:db8:1:2::5"});
  REQUIRE(read);
  INFO("stderr: " << read->err);
  CHECK(read->exit_code == 0);
  CHECK(parse_json(read->out)["source"].s == "2001:db8:1::/48");
  // The command line still wins.
  std::optional<Run> given = admin_with_etc_config(dir, config, {"--state-dir", dir.path(), "--json", "history",
                                                                 "2001:db8:1:2::5"});
  REQUIRE(given);
  CHECK(parse_json(given->out)["source"].s == "2001:db8:1:2::/64");
  // A broken one is named.
  std::optional<Run> broken = admin_with_etc_config(dir, "[state\n", {"top"});
  REQUIRE(broken);
  CHECK(broken->exit_code == 2);
  CHECK_THAT(broken->err, Catch::Contains("/etc/whoisd/whoisd.conf") && Catch::Contains("line 1"));
}
