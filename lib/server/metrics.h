// Metrics of the daemon, exposed in the Prometheus text exposition format 0.0.4.
//
// Series are registered once at start-up (under a mutex) and then updated from every
// event loop with relaxed atomic operations: an increment never takes a lock and never
// allocates. Rendering (on the metrics thread) reads the atomics and calls the scrape-time
// callbacks; it may see a histogram mid-update, which Prometheus tolerates.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace whoisd {

// Label name/value pairs of one series, in the order they are rendered.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. Own cache line, so that counters bumped by different
// loops do not falsely share one.
class alignas(64) Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (open connections, sizes).
class alignas(64) Gauge {
 public:
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void inc() noexcept { add(1); }
  void dec() noexcept { add(-1); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Observations counted into buckets with fixed upper bounds (le, inclusive) plus +Inf.
class Histogram {
 public:
  // Bounds must be finite and strictly increasing; throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value) noexcept;

  struct Reading {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Reading read() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// All series of one process. Registering the same name and labels again returns the same
// series; a name reused with another type or help text, or an invalid name, throws
// std::invalid_argument naming it. References returned stay valid for the registry's life.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& counter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> upper_bounds,
                       MetricLabels labels = {});
  // Values computed at scrape time, on the metrics thread: `read` must be thread-safe,
  // quick, and must not call back into the registry.
  void counter_callback(std::string_view name, std::string_view help, MetricLabels labels,
                        std::function<double()> read);
  void gauge_callback(std::string_view name, std::string_view help, MetricLabels labels,
                      std::function<double()> read);

  // The exposition text: families in registration order, "# HELP" and "# TYPE" lines, then
  // their series. Content type: kPrometheusContentType.
  std::string render() const;

 private:
  struct Family;
  struct Series;
  Family& family(std::string_view name, std::string_view help, int type);
  Series* find(Family& f, const MetricLabels& labels);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Answer-time buckets, in seconds: 50 µs to 1 s.
inline constexpr std::array<double, 14> kAnswerSecondsBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

// The outcomes whoisd_queries_total counts (its own list: state/query_log.h has QueryOutcome
// for the log, server/outcome.h the server's; the server maps between them).
enum class MetricsOutcome { found, no_match, invalid, help, limit_crossed, suspended };
inline constexpr std::size_t kMetricsOutcomes = 6;
std::string_view to_string(MetricsOutcome outcome);  // the label value: "found", "no_match", ...

enum class ProxyRefusal {
  untrusted,  // a PROXY header from a peer outside [proxy] trusted
  invalid,    // a malformed PROXY header from a trusted peer
};
inline constexpr std::size_t kProxyRefusals = 2;
std::string_view to_string(ProxyRefusal reason);  // "untrusted", "invalid"

// Every series the daemon exports, defined in one place (names, help, labels).
class DaemonMetrics {
 public:
  // `clock` must outlive every scrape of `registry` (it dates the snapshot age).
  DaemonMetrics(MetricsRegistry& registry, const Clock& clock);
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  MetricsRegistry& registry() { return registry_; }

  Counter& query(MetricsOutcome outcome) { return *queries_[static_cast<std::size_t>(outcome)]; }   // whoisd_queries_total
  Counter& proxy_refused(ProxyRefusal r) { return *proxy_refused_[static_cast<std::size_t>(r)]; }  // whoisd_proxy_headers_refused_total

 private:
  MetricsRegistry& registry_;
  std::array<Counter*, kMetricsOutcomes> queries_{};
  std::array<Counter*, kProxyRefusals> proxy_refused_{};

 public:
  Counter& suspensions;                     // whoisd_suspensions_total
  Gauge& connections_open;                  // whoisd_connections_open
  Counter& connections_total;               // whoisd_connections_total (accepted)
  Counter& connections_refused_total;       // whoisd_connections_refused_total{reason="total"}
  Counter& connections_refused_per_source;  // whoisd_connections_refused_total{reason="per_source"}
  Counter& read_timeouts;                   // whoisd_timeouts_total{kind="read"}
  Counter& write_timeouts;                  // whoisd_timeouts_total{kind="write"}
  Histogram& answer_seconds;                // whoisd_answer_seconds: accept (or header) to answer written
  Counter& snapshot_reloads_ok;             // whoisd_snapshot_reloads_total{result="ok"}
  Counter& snapshot_reloads_failed;         // whoisd_snapshot_reloads_total{result="failed"}
  Counter& snapshot_written_in_place;       // whoisd_snapshot_written_in_place_total
  Counter& config_reloads_applied;          // whoisd_config_reloads_total{result="applied"}
  Counter& config_reloads_refused;          // whoisd_config_reloads_total{result="refused"}
  Gauge& snapshot_domains;                  // whoisd_snapshot_domains
  Gauge& snapshot_bytes;                    // whoisd_snapshot_bytes

  // After opening or reloading a snapshot: whoisd_snapshot_age_seconds is then
  // clock.now() - exported_at at each scrape (NaN until this is called).
  void set_snapshot(std::int64_t exported_at, std::int64_t domains, std::int64_t file_bytes);

  // Figures read at scrape time from the parts that own them; 0 until set. Each function
  // must be thread-safe. May be called at any time, also while the metrics endpoint runs.
  // whoisd_querylog_backlog, whoisd_querylog_dropped_total,
  // whoisd_state_write_errors_total{writer="query_log"}:
  void watch_query_log(std::function<std::uint64_t()> backlog, std::function<std::uint64_t()> dropped,
                       std::function<std::uint64_t()> write_errors);
  // whoisd_limiter_sources, whoisd_suspensions_active, whoisd_limiter_sources_evicted_total:
  void watch_limiter(std::function<std::uint64_t()> sources, std::function<std::uint64_t()> suspensions_active,
                     std::function<std::uint64_t()> sources_evicted);
  // whoisd_admin_actions_total, whoisd_state_write_errors_total{writer="state"}:
  void watch_state(std::function<std::uint64_t()> admin_actions, std::function<std::uint64_t()> write_errors);

 private:
  // Shared with the scrape-time callbacks, which the registry may outlive us with.
  struct Watched;
  std::shared_ptr<Watched> watched_;
};

}  // namespace whoisd
