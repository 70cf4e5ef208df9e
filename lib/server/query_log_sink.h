// The server's side of the query log (state/query_log.h): owns the QueryLog and
// hands it one entry per query in the server's own outcome words. A thin wrapper,
// kept apart so that the event-loop code includes no state/ header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.h"
#include "server/outcome.h"

namespace whoisd {

class QueryLog;

class QueryLogSink {
 public:
  // Records nothing until open().
  QueryLogSink();
  // Opens the query log on the state database at `db_path` (which must exist) and
  // starts its writer thread. Call once, before the event loops run. Throws StateDbError.
  void open(const std::string& db_path, int ipv6_prefix);
  ~QueryLogSink();
  QueryLogSink(const QueryLogSink&) = delete;
  QueryLogSink& operator=(const QueryLogSink&) = delete;

  // Thread-safe, never waits for the disk.
  void record(std::int64_t time_us, const IpAddress& client, const std::optional<IpAddress>& proxy_peer,
              std::string_view query, Outcome outcome, std::uint32_t answer_us) noexcept;
  // Writes what is queued and ends the writer. Idempotent.
  void stop();

  struct Counters {
    std::uint64_t recorded = 0, written = 0, dropped = 0, backlog = 0, write_errors = 0;
  };
  Counters counters() const;

 private:
  std::unique_ptr<QueryLog> log_;
};

// Microseconds since the Unix epoch.
std::int64_t wall_clock_us();

}  // namespace whoisd
