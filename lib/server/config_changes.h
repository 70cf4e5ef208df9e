// What differs between the configuration a daemon runs and the one a reload read:
// the keys whose values changed (for the config_reloaded log line), and those among
// them that a running daemon cannot apply without a restart (listeners, loops, paths,
// user, metrics address), which a reload reports and leaves as they run.
#pragma once

#include <string>
#include <vector>

#include "server/config.h"

namespace whoisd {

// Every key (as written in the file, "limits.queries") whose value differs, in the
// order of conf/whoisd.conf; empty when none does.
std::vector<std::string> changed_settings(const Config& before, const Config& after);

// The changed keys that need a restart to take effect.
std::vector<std::string> settings_needing_restart(const Config& running, const Config& wanted);
// Sets those settings of `wanted` to the running ones: what a reload adopts, so that a
// later reload compares with what actually runs.
void keep_settings_needing_restart(Config& wanted, const Config& running);

}  // namespace whoisd
