#include "server/query_handler.h"

#include <chrono>

#include "common/log.h"
#include "policy/limiter.h"
#include "query/query_parser.h"
#include "render/answer_renderer.h"
#include "snapshot/snapshot_store.h"

namespace whoisd {

QueryHandler::QueryHandler(Limiter& limiter, const QueryParser& parser, const SnapshotStore& store)
    : limiter_(limiter), parser_(parser), store_(store) {}

bool QueryHandler::may_log_lookup_failure(std::uint64_t* suppressed) const {
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_failure_log_ms_.load(std::memory_order_relaxed);
  if (now_ms - last < 1000 || !last_failure_log_ms_.compare_exchange_strong(last, now_ms, std::memory_order_relaxed)) {
    failure_logs_suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  *suppressed = failure_logs_suppressed_.exchange(0, std::memory_order_relaxed);
  return true;
}

void QueryHandler::prefetch(const IpAddress& client) const noexcept { limiter_.prefetch(client); }

QueryAnswer QueryHandler::answer(const IpAddress& client, std::string_view line, std::string_view refusal,
                                 const AnswerRenderer& renderer) const {
  Decision d = limiter_.check(client);
  switch (d.verdict) {
    case Decision::Verdict::limit_crossed:
      log::info("suspension")
          .kv("source", to_string(d.source))
          .kv("limit", d.limit)
          .kv("until", log::iso8601_utc(d.suspended_until))
          .kv("episode", d.episode);
      return {renderer.limit_crossed(to_string(d.source), d.limit, d.suspended_until, d.episode), Outcome::limit_crossed};
    case Decision::Verdict::suspended:
      return {renderer.suspended(to_string(d.source), d.suspended_until, d.episode), Outcome::suspended};
    case Decision::Verdict::allow:
    case Decision::Verdict::exempt:
      break;
  }
  if (!refusal.empty()) return {renderer.invalid(refusal), Outcome::invalid};

  // One per thread, reused like the domain below: its strings keep their capacity.
  thread_local ParsedQuery q;
  parser_.parse(line, q);
  switch (q.kind) {
    case ParsedQuery::Kind::invalid:
      return {renderer.invalid(q.reason), Outcome::invalid};
    case ParsedQuery::Kind::help:
      return {renderer.help(), Outcome::help};
    case ParsedQuery::Kind::lookup:
      break;
  }
  // One per thread, reused: its strings keep their capacity from lookup to lookup, so
  // decoding a record allocates nothing once the thread has seen a few large ones.
  thread_local PublishedDomain domain;
  bool found;
  try {
    found = store_.lookup(q.a_label, domain);
  } catch (const std::exception& e) {
    // The snapshot file went bad under us (I/O error, corruption): no answer beats a
    // wrong "no match"; the connection is closed and the failure logged and counted.
    std::uint64_t suppressed = 0;
    if (may_log_lookup_failure(&suppressed))
      log::error("lookup_failed").kv("domain", q.a_label).kv("error", e.what()).kv("suppressed", suppressed);
    return {std::string(), Outcome::error};
  }
  if (found) return {renderer.found(domain, q.below_registration), Outcome::found};
  return {renderer.no_match(q.u_label.empty() ? q.a_label : q.u_label), Outcome::no_match};
}

}  // namespace whoisd
