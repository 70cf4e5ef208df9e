// The one line an operator reads in `systemctl status whoisd` (sd_notify STATUS=): the
// snapshot being served, and what the last reloads refused or changed, so that after
// `systemctl reload` (which on systemd 252 returns before the reload is done, and
// succeeds whatever it did) one sees whether it took without reading the journal.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "snapshot/snapshot_store.h"

namespace whoisd {

class ServiceStatus {
 public:
  // The snapshot served now: at start, and after each reload that installed one (which
  // also ends what a refused snapshot reload said).
  void serving(const SnapshotInfo& info);
  // A snapshot reload refused that file; the one served stays.
  void snapshot_refused(std::string_view error);
  // A reread of the configuration applied it: the keys whose values changed, and those
  // that wait for a restart.
  void config_applied(const std::vector<std::string>& changed, const std::vector<std::string>& needs_restart);
  // A reread of the configuration refused it; the running one stays.
  void config_refused(std::string_view error);

  // "serving 36 domains from /var/lib/whoisd/snapshot/pt.sqlite (exported 2026-11-23T09:30:00Z)",
  // then "; " and what the last reload of the snapshot refused and what the last reread
  // of the configuration did, when there is something to say.
  std::string text() const;

 private:
  std::string serving_;
  std::string snapshot_refusal_;  // empty while the last snapshot reload installed its file
  std::string config_outcome_;    // empty until the configuration is reread
};

}  // namespace whoisd
