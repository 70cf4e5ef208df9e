// What the server answers to one query line: the decision order of SPEC §4 and §2.
// The limiter comes first (every query counts, and a suspended source gets the
// suspension answer without a lookup); then the parser (anything that is not a .pt
// domain is answered without a lookup); then one snapshot lookup; then the renderer.
// No I/O of its own: the event loop calls it with a complete line, and it returns
// the whole answer as one string.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/address.h"
#include "server/outcome.h"

namespace whoisd {

class Limiter;
class QueryParser;
class SnapshotStore;
class AnswerRenderer;

struct QueryAnswer {
  std::string text;
  Outcome outcome = Outcome::error;
};

// The invalid-query reasons the server itself gives (the parser has its own).
inline constexpr std::string_view kReasonLineTooLong = "line too long";
inline constexpr std::string_view kReasonUntrustedProxy = "PROXY header from an address that may not send one";
inline constexpr std::string_view kReasonMalformedProxy = "malformed PROXY header";

class QueryHandler {
 public:
  // All three must outlive the handler; each is thread-safe.
  QueryHandler(Limiter& limiter, const QueryParser& parser, const SnapshotStore& store);

  // `line`: the query line as framed (query_line.h: the bytes before CR LF or LF). `refusal`: when not empty, the line
  // is not parsed but answered with the invalid-query answer for this reason (a line
  // past the cap, of which `line` holds the start; a PROXY header from a peer that may
  // not send one). Such a query still counts, and a suspended source is told so: every
  // query counts (SPEC §4), whatever it is.
  QueryAnswer answer(const IpAddress& client, std::string_view line, std::string_view refusal,
                     const AnswerRenderer& renderer) const;

  // Starts loading what answer() will read first for this client (its limiter slot,
  // Limiter::prefetch), so that the cache miss overlaps the work before answer():
  // call it as soon as the client's address is known. Changes nothing; any address.
  void prefetch(const IpAddress& client) const noexcept;

 private:
  // At most one lookup_failed line a second, from all loops: a snapshot written in place
  // fails every lookup until it is reloaded, and a line each would flood the journal.
  bool may_log_lookup_failure(std::uint64_t* suppressed) const;

  Limiter& limiter_;
  const QueryParser& parser_;
  const SnapshotStore& store_;
  mutable std::atomic<std::int64_t> last_failure_log_ms_{-1'000'000};
  mutable std::atomic<std::uint64_t> failure_logs_suppressed_{0};
};

}  // namespace whoisd
