// The configuration parser: defaults, every table, and refusals that name the key
// and the line (the integration test checks the same through whoisd --check-config).
#include <catch2/catch.hpp>

#include "common/duration.h"
#include "server/config.h"
#include "state/retention.h"

using namespace whoisd;
using namespace std::chrono_literals;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "t.conf");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}
}  // namespace

TEST_CASE("an empty file gives the documented defaults", "[config]") {
  Config c = parse_config("", "t.conf");
  REQUIRE(c.server.listen.size() == 2);
  CHECK(c.server.listen[0].to_string() == "0.0.0.0:43");
  CHECK(c.server.listen[1].to_string() == "[::]:43");
  CHECK(c.server.loops == 0);
  CHECK(c.server.read_timeout == 10s);
  CHECK(c.server.write_timeout == 30s);
  CHECK(c.server.max_connections == 10000);
  CHECK(c.server.max_connections_per_source == 32);
  CHECK(c.server.user == "whoisd");
  CHECK(c.limits.queries == 1000);
  CHECK(c.limits.window == 24h);
  CHECK(c.limits.suspension == 24h);
  CHECK(c.limits.quiet_period == std::chrono::hours(24 * 30));
  CHECK(c.limits.ipv6_prefix == 64);
  CHECK(c.limits.max_sources == 2'000'000);
  CHECK(c.retention == std::chrono::hours(24 * 90));
  REQUIRE(c.metrics_listen);
  CHECK(c.metrics_listen->to_string() == "127.0.0.1:9143");
  CHECK(c.log_level == log::Level::info);
}

TEST_CASE("every table is read", "[config]") {
  Config c = parse_config(R"(
[server]
listen = ["192.0.2.1:4343", "[2001:db8::1]:43"]
loops = 3
read_timeout = "1500ms"
write_timeout = "1m"
max_connections = 50
max_connections_per_source = 2
user = "nobody"
[snapshot]
path = "/srv/pt.sqlite"
[state]
dir = "/srv/state"
retention = "30d"
[limits]
queries = 7
window = "1h"
suspension = "2h"
quiet_period = "7d"
ipv6_prefix = 56
max_sources = 20000
exempt = ["10.0.0.0/8"]
[[limits.network]]
network = "192.0.2.0/24"
queries = 100
[[limits.network]]
network = "2001:db8::/32"
queries = 200
[proxy]
trusted = []
[answers]
header = ["% one", "%"]
footer = ["% two"]
[metrics]
listen = ""
[log]
level = "debug"
)",
                          "t.conf");
  CHECK(c.server.listen[1].to_string() == "[2001:db8::1]:43");
  CHECK(c.server.loops == 3);
  CHECK(c.server.read_timeout == 1500ms);
  CHECK(c.server.write_timeout == 60s);
  CHECK(c.server.max_connections_per_source == 2);
  CHECK(c.snapshot_path == "/srv/pt.sqlite");
  CHECK(c.state_dir == "/srv/state");
  CHECK(c.retention == std::chrono::hours(24 * 30));
  CHECK(c.limits.queries == 7);
  CHECK(c.limits.window == 1h);
  CHECK(c.limits.ipv6_prefix == 56);
  CHECK(c.limits.max_sources == 20000);
  REQUIRE(c.limits.networks.size() == 2);
  CHECK(c.limits.networks[1].network.to_string() == "2001:db8::/32");
  CHECK(c.limits.networks[1].queries == 200);
  CHECK(c.trusted_proxies.empty());
  CHECK(c.header == std::vector<std::string>{"% one", "%"});
  CHECK_FALSE(c.metrics_listen);
  CHECK(c.log_level == log::Level::debug);
}

TEST_CASE("a refusal names the file, the line and the key", "[config]") {
  CHECK(error_of("[server]\n\nloops = \"two\"\n") == "t.conf:3: server.loops: must be a whole number from 0 to 256, not a string");
  CHECK(error_of("[limits]\nqueries = 5\nwindow = \"1 day\"\n").rfind("t.conf:3: limits.window: ", 0) == 0);
  CHECK(error_of("[server]\nlisten = []\n").rfind("t.conf:2: server.listen: must name at least one address", 0) == 0);
  CHECK(error_of("[server]\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n").find("listed twice") != std::string::npos);
  CHECK(error_of("[state]\nretention = \"10s\"\n").rfind("t.conf:2: state.retention: must be at least 1h", 0) == 0);
  CHECK(error_of("[state]\nretention = \"22000000w\"\n").rfind("t.conf:2: state.retention: must be at most " +
                                                                  whoisd::format_duration(whoisd::kMaxRetention),
                                                              0) == 0);
  CHECK(error_of("[limits]\nsuspension = \"1500ms\"\n").find("whole number of seconds") != std::string::npos);
  CHECK(error_of("snapshot = 1\n").rfind("t.conf:1: snapshot: must be a table", 0) == 0);
  CHECK(error_of("[answers]\nfooter = [\"x\"]\n").rfind("t.conf:2: answers.footer: each line must start with", 0) == 0);
  // Words that parsers read as "domain not registered", and a footer the limit answers cannot carry.
  CHECK(error_of("[answers]\nheader = [\"% ok\",\n  \"% Report errors to whois@pt.pt\"]\n") ==
        "t.conf:3: answers.header: \"% Report errors to whois@pt.pt\" holds \"error\", which client libraries take "
        "for \"domain not registered\"");
  CHECK(error_of("[answers]\nfooter = [\"% a 'No Match' answer means free\"]\n")
            .rfind("t.conf:2: answers.footer: \"% a 'No Match' answer means free\" holds \"no match\", which "
                   "Net::Whois::Raw", 0) == 0);
  // A line longer than an answer line holds (it was accepted, then served cut at 255 characters).
  CHECK(error_of("[answers]\nheader = [\"% " + std::string(300, 'y') + "\"]\n").find("is 302 characters long; an answer line holds at most 255") != std::string::npos);
  CHECK(error_of("[answers]\nfooter = [\"% a\", \"% b\", \"% c\", \"% d\"]\n") ==
        "t.conf:2: answers.footer: has 4 lines; at most 3, so that the limit answers, which stay under five lines, "
        "carry it");
  CHECK(error_of("[proxy]\ntrusted = [\"300.1.1.1/8\"]\n").rfind("t.conf:2: proxy.trusted: ", 0) == 0);
  CHECK(error_of("[server]\nuser = \"\"\n").rfind("t.conf:2: server.user: ", 0) == 0);
  CHECK(error_of("[server]\nuser = \"a\\u0001b\"\n").find("control characters") != std::string::npos);
  CHECK(error_of("[[limits.network]]\nnetwork = \"192.0.2.0/24\"\nqueries = 1\ncolour = 1\n")
            .rfind("t.conf:4: limits.network.colour: unknown key", 0) == 0);
  CHECK(error_of("[limits]\nnetwork = 5\n").rfind("t.conf:2: limits.network: must be written as [[limits.network]]", 0) == 0);
  CHECK(error_of("a = \n").rfind("t.conf:1: not valid TOML", 0) == 0);
}

TEST_CASE("command-line overrides replace the file's values and are checked", "[config]") {
  Config c = parse_config("[server]\nlisten = [\"127.0.0.1:43\"]\n", "t.conf");
  ConfigOverrides o;
  o.listen = {"127.0.0.1:4343", "[::1]:4343"};
  o.snapshot_path = "/tmp/s.sqlite";
  o.state_dir = "/tmp/st";
  o.loops = 2;
  o.metrics = "off";
  o.log_level = "warn";
  o.user = "nobody";
  apply_overrides(c, o);
  REQUIRE(c.server.listen.size() == 2);
  CHECK(c.server.listen[1].to_string() == "[::1]:4343");
  CHECK(c.snapshot_path == "/tmp/s.sqlite");
  CHECK(c.state_dir == "/tmp/st");
  CHECK(c.server.loops == 2);
  CHECK_FALSE(c.metrics_listen);
  CHECK(c.log_level == log::Level::warn);
  CHECK(c.server.user == "nobody");

  ConfigOverrides bad;
  bad.listen = {"localhost:43"};
  CHECK_THROWS_WITH(apply_overrides(c, bad), Catch::Contains("--listen") && Catch::Contains("localhost"));
  ConfigOverrides bad_level;
  bad_level.log_level = "verbose";
  CHECK_THROWS_WITH(apply_overrides(c, bad_level), Catch::Contains("--log-level"));
}

TEST_CASE("the documented example parses", "[config]") {
  Config c = load_config_file(std::string(WHOISD_SOURCE_DIR) + "/conf/whoisd.conf");
  CHECK(c.server.listen.size() == 2);
  CHECK(c.limits.queries == 1000);
  CHECK_FALSE(c.header.empty());
  CHECK_THROWS_AS(load_config_file("/nonexistent/whoisd.conf"), ConfigError);
  // A directory reads as an empty file to a stream: without this, the defaults.
  CHECK_THROWS_WITH(load_config_file("/tmp"), "/tmp: is a directory, not a configuration file");
}

TEST_CASE("the snapshot watch is a boolean, off by default", "[config]") {
  CHECK_FALSE(parse_config("", "t.conf").snapshot_watch);
  CHECK(parse_config("[snapshot]\nwatch = true\n", "t.conf").snapshot_watch);
  CHECK(error_of("[snapshot]\nwatch = 1\n") == "t.conf:2: snapshot.watch: must be true or false, not an integer");
}

TEST_CASE("the metrics endpoint is disabled by \"\" or \"off\", as --metrics off does", "[config]") {
  CHECK_FALSE(parse_config("[metrics]\nlisten = \"\"\n", "t.conf").metrics_listen);
  CHECK_FALSE(parse_config("[metrics]\nlisten = \"off\"\n", "t.conf").metrics_listen);
  CHECK(parse_config("[metrics]\nlisten = \"127.0.0.1:9\"\n", "t.conf").metrics_listen->to_string() == "127.0.0.1:9");
}

TEST_CASE("limit durations stay within what the limiter counts", "[config]") {
  CHECK(error_of("[limits]\nwindow = \"30s\"\n") == "t.conf:2: limits.window: must be at least 1m, not 30s");
  CHECK(error_of("[limits]\nwindow = \"400d\"\n") == "t.conf:2: limits.window: must be at most 366d, not 400d");
  CHECK(error_of("[limits]\nwindow = \"90s\"\n") ==
        "t.conf:2: limits.window: must be a whole number of minutes (the limiter counts in minutes), not 90s");
  CHECK(parse_config("[limits]\nwindow = \"1h30m\"\n", "t.conf").limits.window == 90min);
}

TEST_CASE("timeouts stay between 100ms and 10m", "[config]") {
  CHECK(error_of("[server]\nread_timeout = \"11m\"\n") == "t.conf:2: server.read_timeout: must be at most 10m, not 11m");
  CHECK(error_of("[server]\nwrite_timeout = \"106751991167d\"\n").rfind("t.conf:2: server.write_timeout: ", 0) == 0);
  CHECK(error_of("[server]\nwrite_timeout = \"50ms\"\n") ==
        "t.conf:2: server.write_timeout: must be at least 100ms, not 50ms");
  CHECK(parse_config("[server]\nread_timeout = \"10m\"\n", "t.conf").server.read_timeout == 10min);
  CHECK(parse_config("[limits]\nquiet_period = \"0s\"\n", "t.conf").limits.quiet_period.count() == 0);
}

TEST_CASE("limits.max_sources is a memory bound between 10,000 and 100,000,000", "[config]") {
  CHECK(error_of("[limits]\nmax_sources = 9999\n").find("t.conf:2: limits.max_sources") == 0);
  CHECK(error_of("[limits]\nmax_sources = 100000001\n").find("t.conf:2: limits.max_sources") == 0);
  CHECK(error_of("[limits]\nmax_sources = \"5M\"\n").find("t.conf:2: limits.max_sources") == 0);
  CHECK(parse_config("[limits]\nmax_sources = 10000\n", "t.conf").limits.max_sources == 10000);
  CHECK(parse_config("[limits]\nmax_sources = 100000000\n", "t.conf").limits.max_sources == 100'000'000);
}
