// What a reload changed, and what of it waits for a restart (config_changes.h).
#include <catch2/catch.hpp>

#include "server/config.h"
#include "server/config_changes.h"

using namespace whoisd;
using namespace std::chrono_literals;

TEST_CASE("what a reload cannot change is named", "[config]") {
  Config a = parse_config("", "a");
  Config b = parse_config("[server]\nloops = 4\nread_timeout = \"1s\"\n[state]\ndir = \"/x\"\n", "b");
  CHECK(settings_needing_restart(a, b) == std::vector<std::string>{"server.loops", "state.dir"});
  CHECK(settings_needing_restart(a, a).empty());
}

TEST_CASE("a reload keeps every setting that needs a restart as it runs, and takes the rest", "[config]") {
  Config running = parse_config("", "running");
  Config wanted = parse_config(
      "[server]\nlisten = [\"127.0.0.1:4343\"]\nloops = 4\nuser = \"nobody\"\nread_timeout = \"1s\"\n"
      "[snapshot]\npath = \"/other.sqlite\"\nwatch = true\n[state]\ndir = \"/x\"\nretention = \"2h\"\n"
      "[metrics]\nlisten = \"127.0.0.1:9999\"\n[limits]\nqueries = 7\n",
      "wanted");
  REQUIRE(settings_needing_restart(running, wanted).size() == 8);  // every one of them differs
  keep_settings_needing_restart(wanted, running);
  CHECK(settings_needing_restart(running, wanted).empty());
  CHECK(wanted.server.read_timeout == 1s);  // the live ones are the new file's
  CHECK(wanted.limits.queries == 7);
}

TEST_CASE("a reload names the keys whose values changed, in the file's order", "[config]") {
  Config running = parse_config("[limits]\nqueries = 1000\n", "running");
  CHECK(changed_settings(running, running).empty());
  // The same values written otherwise (another file, a duration in other units, the
  // default spelled out) are no change.
  CHECK(changed_settings(running, parse_config("[limits]\nwindow = \"1440m\"\n[log]\nlevel = \"info\"\n", "same"))
            .empty());
  Config wanted = parse_config(
      "[answers]\nfooter = [\"% Ask us\"]\n[limits]\nqueries = 500\n[server]\nloops = 4\n", "wanted");
  CHECK(changed_settings(running, wanted) == std::vector<std::string>{"server.loops", "limits.queries", "answers.footer"});
  // What a reload adopts keeps the running loops: only the two it applies are left.
  keep_settings_needing_restart(wanted, running);
  CHECK(changed_settings(running, wanted) == std::vector<std::string>{"limits.queries", "answers.footer"});
}

TEST_CASE("every key of the file is compared", "[config]") {
  Config defaults = parse_config("", "defaults");
  Config every = parse_config(
      "[server]\nlisten = [\"127.0.0.1:4343\"]\nloops = 4\nread_timeout = \"1s\"\nwrite_timeout = \"2s\"\n"
      "max_connections = 10\nmax_connections_per_source = 2\nuser = \"nobody\"\n"
      "[snapshot]\npath = \"/other.sqlite\"\nwatch = true\n[state]\ndir = \"/x\"\nretention = \"2h\"\n"
      "[limits]\nqueries = 7\nwindow = \"1h\"\nsuspension = \"2h\"\nquiet_period = \"3h\"\nipv6_prefix = 56\n"
      "max_sources = 20000\n"
      "exempt = []\n[[limits.network]]\nnetwork = \"192.0.2.0/24\"\nqueries = 5\n"
      "[proxy]\ntrusted = []\n[answers]\nheader = [\"% Hello\"]\nfooter = [\"% Bye\"]\n"
      "[metrics]\nlisten = \"\"\n[log]\nlevel = \"debug\"\n",
      "every");
  CHECK(changed_settings(defaults, every) ==
        std::vector<std::string>{"server.listen", "server.loops", "server.read_timeout", "server.write_timeout",
                                 "server.max_connections", "server.max_connections_per_source", "server.user",
                                 "snapshot.path", "snapshot.watch", "state.dir", "state.retention", "limits.queries",
                                 "limits.window", "limits.suspension", "limits.quiet_period", "limits.ipv6_prefix",
                                 "limits.max_sources", "limits.exempt", "limits.network", "proxy.trusted", "answers.header",
                                 "answers.footer", "metrics.listen", "log.level"});
  // A per-network limit that changes only its count is a change too.
  Config other_count = every;
  other_count.limits.networks[0].queries = 6;
  CHECK(changed_settings(every, other_count) == std::vector<std::string>{"limits.network"});
}
