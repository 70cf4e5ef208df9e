// Removing what the registry no longer may or must keep (SPEC §4: retention,
// default 90 days): query_log and abuse_events rows, and applied admin commands,
// older than a cutoff; and the reasons of suspensions that ended before it (the rows of
// suspension_reasons that no end event removed: suspension_reasons.h). In bounded batches, each its own short transaction, so that
// the daemon's writers never wait long for the file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/clock.h"
#include "state/state_db.h"

namespace whoisd {

// The shortest retention the daemon ([state] retention) and `whoisd-admin purge
// --retention` take: below an hour, a purge would take the rows the writers are still
// adding to, and a mistyped unit ("10m" for "10d") would erase the logs SPEC §4 keeps.
inline constexpr std::chrono::seconds kMinRetention{3600};
// The longest: ten years is past any legal requirement, and a longer one is a typo
// ("22000000w") whose cutoff would lie before 1970.
inline constexpr std::chrono::seconds kMaxRetention{10LL * 366 * 86'400};

struct PurgeCounts {
  std::uint64_t query_log = 0;
  std::uint64_t abuse_events = 0;
  std::uint64_t admin_actions = 0;
  std::uint64_t total() const { return query_log + abuse_events + admin_actions; }
  bool more = false;  // purge_some() stopped at its batch limit: rows older than the cutoff remain
};

// Deletes rows older than `cutoff` (Unix s), at most `batch` rows per table per
// transaction and at most `max_batches` transactions. A cutoff beyond what the query
// log's microseconds can hold is taken as the earliest or latest they can (no
// overflow). Throws StateDbError.
PurgeCounts purge_some(StateDb& db, UnixSeconds cutoff, std::size_t batch, std::size_t max_batches);

// The time (Unix s) of the newest query-log row, or nullopt for an empty log. A purge
// whose cutoff lies after it would leave the log empty: whoisd-admin purge asks for
// that to be confirmed, since it is what a wall clock set far ahead does.
std::optional<UnixSeconds> newest_logged_query(StateDb& db);

// All rows older than `cutoff`, batch after batch.
PurgeCounts purge_all(StateDb& db, UnixSeconds cutoff, std::size_t batch = 10'000);

}  // namespace whoisd
