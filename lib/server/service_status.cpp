#include "server/service_status.h"

#include <fmt/format.h>

#include "common/log.h"

namespace whoisd {

void ServiceStatus::serving(const SnapshotInfo& info) {
  serving_ = fmt::format("serving {} domains from {} (exported {})", info.domains, info.path,
                         log::iso8601_utc(info.exported_at));
  snapshot_refusal_.clear();
}

void ServiceStatus::snapshot_refused(std::string_view error) {
  snapshot_refusal_ = fmt::format("snapshot reload refused, the previous one still served: {}", error);
}

void ServiceStatus::config_applied(const std::vector<std::string>& changed,
                                   const std::vector<std::string>& needs_restart) {
  config_outcome_ = changed.empty() ? std::string("config reloaded, nothing changed")
                                    : fmt::format("config reloaded, changed {}", fmt::join(changed, ","));
  if (!needs_restart.empty())
    config_outcome_ += fmt::format(" ({} wait for a restart)", fmt::join(needs_restart, ","));
}

void ServiceStatus::config_refused(std::string_view error) {
  config_outcome_ = fmt::format("config reload refused, the previous one still runs: {}", error);
}

std::string ServiceStatus::text() const {
  std::string out = serving_;
  for (const std::string* part : {&snapshot_refusal_, &config_outcome_})
    if (!part->empty()) out += (out.empty() ? "" : "; ") + *part;
  return out;
}

}  // namespace whoisd
