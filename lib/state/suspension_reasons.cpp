#include "state/suspension_reasons.h"

namespace whoisd {

SuspensionReasonTable::SuspensionReasonTable(StateDb& db)
    : upsert_(db,
              "INSERT OR REPLACE INTO suspension_reasons (source, until, since, kind, reason, operator) "
              "VALUES (?, ?, ?, ?, ?, ?)"),
      erase_(db, "DELETE FROM suspension_reasons WHERE source = ? AND until = ?") {}

void SuspensionReasonTable::follow(std::string_view event_kind, std::string_view source, UnixSeconds time,
                                   UnixSeconds until, std::string_view reason, std::string_view operator_name) {
  const bool started = event_kind == "suspension_started";
  if (started || event_kind == "suspension_imposed") {
    upsert_.bind(1, source)
        .bind(2, until)
        .bind(3, time)
        .bind(4, started ? "automatic" : "manual")
        .bind(5, reason)
        .bind(6, operator_name)
        .run();
  } else if (event_kind == "suspension_expired" || event_kind == "suspension_lifted") {
    erase_.bind(1, source).bind(2, until).run();
  }
}

}  // namespace whoisd
