#include "server/query_log_sink.h"

#include <chrono>

#include "state/query_log.h"

namespace whoisd {

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::found: return "found";
    case Outcome::no_match: return "no_match";
    case Outcome::invalid: return "invalid";
    case Outcome::malformed_proxy_header: return "malformed_proxy_header";
    case Outcome::help: return "help";
    case Outcome::limit_crossed: return "limit_crossed";
    case Outcome::suspended: return "suspended";
    case Outcome::too_many_connections: return "too_many_connections";
    case Outcome::timeout: return "timeout";
    case Outcome::error: return "error";
  }
  return "error";
}

namespace {
QueryOutcome to_log_outcome(Outcome o) {
  switch (o) {
    case Outcome::found: return QueryOutcome::found;
    case Outcome::no_match: return QueryOutcome::no_match;
    case Outcome::invalid: return QueryOutcome::invalid;
    case Outcome::malformed_proxy_header: return QueryOutcome::malformed_proxy_header;
    case Outcome::help: return QueryOutcome::help;
    case Outcome::limit_crossed: return QueryOutcome::limit_crossed;
    case Outcome::suspended: return QueryOutcome::suspended;
    case Outcome::too_many_connections: return QueryOutcome::too_many_connections;
    case Outcome::timeout: return QueryOutcome::timeout;
    case Outcome::error: return QueryOutcome::error;
  }
  return QueryOutcome::error;
}
}  // namespace

void QueryLogSink::open(const std::string& db_path, int ipv6_prefix) {
  QueryLogOptions options;
  options.ipv6_prefix = ipv6_prefix;
  options.idle_priority = true;  // record() takes no lock, so the writer may yield to the loops
  log_ = std::make_unique<QueryLog>(db_path, options);
  log_->start();
}

QueryLogSink::QueryLogSink() = default;

QueryLogSink::~QueryLogSink() { stop(); }

void QueryLogSink::record(std::int64_t time_us, const IpAddress& client, const std::optional<IpAddress>& proxy_peer,
                          std::string_view query, Outcome outcome, std::uint32_t answer_us) noexcept {
  if (!log_) return;
  try {
    QueryLogEntry e;
    e.time_us = time_us;
    e.client = client;
    e.proxy_peer = proxy_peer;
    e.query = std::string(query);
    e.outcome = to_log_outcome(outcome);
    e.answer_us = answer_us;
    log_->record(std::move(e));
  } catch (...) {
    // Out of memory building the entry: the QueryLog counts its own drops; this one
    // is lost before it got there, which is the same as a full backlog.
  }
}

void QueryLogSink::stop() {
  if (log_) log_->stop();
}

QueryLogSink::Counters QueryLogSink::counters() const {
  Counters c;
  if (!log_) return c;
  auto q = log_->counters();
  c.recorded = q.recorded;
  c.written = q.written;
  c.dropped = q.dropped;
  c.backlog = q.backlog;
  c.write_errors = q.write_errors;
  return c;
}

std::int64_t wall_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace whoisd
