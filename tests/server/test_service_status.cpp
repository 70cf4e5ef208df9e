// The status line `systemctl status whoisd` shows (sd_notify STATUS=).
#include <catch2/catch.hpp>

#include "server/service_status.h"

using whoisd::ServiceStatus;
using whoisd::SnapshotInfo;

namespace {
SnapshotInfo snapshot(std::int64_t domains) {
  SnapshotInfo info;
  info.path = "/var/lib/whoisd/snapshot/pt.sqlite";
  info.domains = domains;
  info.exported_at = 1'795'426'200;  // 2026-11-23T09:30:00Z
  return info;
}
}  // namespace

TEST_CASE("the status says what is served, then what the last reloads did", "[status]") {
  ServiceStatus status;
  status.serving(snapshot(36));
  const std::string serving = "serving 36 domains from /var/lib/whoisd/snapshot/pt.sqlite (exported 2026-11-23T09:30:00Z)";
  CHECK(status.text() == serving);

  status.config_applied({"limits.queries", "answers.footer"}, {});
  CHECK(status.text() == serving + "; config reloaded, changed limits.queries,answers.footer");
  status.config_applied({}, {"server.loops", "state.dir"});
  CHECK(status.text() == serving + "; config reloaded, nothing changed (server.loops,state.dir wait for a restart)");

  // A refusal stays until the next reload of the same kind says otherwise.
  status.config_refused("whoisd.conf:3: limits.queries: must be a whole number");
  status.snapshot_refused("not a snapshot: file is not a database");
  CHECK(status.text() == serving +
                             "; snapshot reload refused, the previous one still served: not a snapshot: file is not a "
                             "database; config reload refused, the previous one still runs: whoisd.conf:3: "
                             "limits.queries: must be a whole number");
  status.serving(snapshot(37));
  CHECK(status.text() ==
        "serving 37 domains from /var/lib/whoisd/snapshot/pt.sqlite (exported 2026-11-23T09:30:00Z); config reload "
        "refused, the previous one still runs: whoisd.conf:3: limits.queries: must be a whole number");
  status.config_applied({}, {});
  CHECK(status.text() ==
        "serving 37 domains from /var/lib/whoisd/snapshot/pt.sqlite (exported 2026-11-23T09:30:00Z); config reloaded, "
        "nothing changed");
}
