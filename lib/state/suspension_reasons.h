// The suspension_reasons table (state schema 5): why each source's last suspension
// was started or imposed, by whom, and which kind it is, kept with the suspension so
// that whoisd-admin suspensions shows them as long as it is in force, whatever the
// retention has purged from the abuse log meanwhile.
#pragma once

#include <string_view>

#include "common/clock.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"

namespace whoisd {

class SuspensionReasonTable {
 public:
  explicit SuspensionReasonTable(StateDb& db);
  // Keeps the table in step with an abuse event as the state writer records it, in the
  // same transaction: a suspension started (the limit's) or imposed (an operator's)
  // becomes the source's row; one that expired or was lifted loses it (only the row of
  // that suspension: `until` is its end). Other kinds change no suspension. Throws StateDbError.
  void follow(std::string_view event_kind, std::string_view source, UnixSeconds time, UnixSeconds until,
              std::string_view reason, std::string_view operator_name);

 private:
  SqliteStatement upsert_;
  SqliteStatement erase_;
};

}  // namespace whoisd
