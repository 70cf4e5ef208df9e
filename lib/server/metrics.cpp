#include "server/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "common/log_output.h"

namespace whoisd {
namespace {

enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };
constexpr std::string_view kTypeNames[] = {"counter", "gauge", "histogram"};

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Exposition format escapes: help text escapes \ and newline; label values also ".
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// {a="b",c="d"} with an optional extra label (a histogram's le); "" without labels.
void append_labels(std::string& out, const MetricLabels& labels, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

// ---- Histogram ---------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i] > bounds_[i - 1])))
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
  }
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && !(value <= bounds_[i])) ++i;  // NaN ends in +Inf
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

Histogram::Reading Histogram::read() const {
  Reading r;
  r.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    r.cumulative.push_back(running);
  }
  // The count is the +Inf bucket, so that the two always agree in one scrape.
  r.count = running;
  r.sum = sum_.load(std::memory_order_relaxed);
  return r;
}

// ---- Registry ----------------------------------------------------------------------------

struct MetricsRegistry::Series {
  MetricLabels labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> callback;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<std::unique_ptr<Series>> series;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::family(std::string_view name, std::string_view help, int type) {
  if (!valid_metric_name(name)) throw std::invalid_argument(fmt::format("metric name '{}' is not valid", name));
  for (auto& f : families_) {
    if (f->name != name) continue;
    if (f->type != type || f->help != help)
      throw std::invalid_argument(fmt::format("metric '{}' registered again with another type or help", name));
    return *f;
  }
  auto f = std::make_unique<Family>();
  f->name = std::string(name);
  f->help = std::string(help);
  f->type = type;
  families_.push_back(std::move(f));
  return *families_.back();
}

MetricsRegistry::Series* MetricsRegistry::find(Family& f, const MetricLabels& labels) {
  for (const auto& [label, value] : labels) {
    if (!valid_label_name(label) || (f.type == kHistogram && label == "le"))
      throw std::invalid_argument(fmt::format("metric '{}': label name '{}' is not valid", f.name, label));
  }
  for (auto& s : f.series)
    if (s->labels == labels) return s.get();
  return nullptr;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, MetricLabels labels) {
  std::lock_guard lock(mutex_);
  Family& f = family(name, help, kCounter);
  if (Series* s = find(f, labels)) {
    if (!s->counter) throw std::invalid_argument(fmt::format("metric '{}': series is a callback", name));
    return *s->counter;
  }
  auto s = std::make_unique<Series>();
  s->labels = std::move(labels);
  s->counter = std::make_unique<Counter>();
  f.series.push_back(std::move(s));
  return *f.series.back()->counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, MetricLabels labels) {
  std::lock_guard lock(mutex_);
  Family& f = family(name, help, kGauge);
  if (Series* s = find(f, labels)) {
    if (!s->gauge) throw std::invalid_argument(fmt::format("metric '{}': series is a callback", name));
    return *s->gauge;
  }
  auto s = std::make_unique<Series>();
  s->labels = std::move(labels);
  s->gauge = std::make_unique<Gauge>();
  f.series.push_back(std::move(s));
  return *f.series.back()->gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help, std::vector<double> upper_bounds,
                                      MetricLabels labels) {
  std::lock_guard lock(mutex_);
  Family& f = family(name, help, kHistogram);
  if (Series* s = find(f, labels)) {
    if (s->histogram->upper_bounds() != upper_bounds)
      throw std::invalid_argument(fmt::format("metric '{}' registered again with other buckets", name));
    return *s->histogram;
  }
  auto s = std::make_unique<Series>();
  s->labels = std::move(labels);
  s->histogram = std::make_unique<Histogram>(std::move(upper_bounds));
  f.series.push_back(std::move(s));
  return *f.series.back()->histogram;
}

void MetricsRegistry::counter_callback(std::string_view name, std::string_view help, MetricLabels labels,
                                       std::function<double()> read) {
  std::lock_guard lock(mutex_);
  Family& f = family(name, help, kCounter);
  if (find(f, labels)) throw std::invalid_argument(fmt::format("metric '{}': series registered twice", name));
  auto s = std::make_unique<Series>();
  s->labels = std::move(labels);
  s->callback = std::move(read);
  f.series.push_back(std::move(s));
}

void MetricsRegistry::gauge_callback(std::string_view name, std::string_view help, MetricLabels labels,
                                     std::function<double()> read) {
  std::lock_guard lock(mutex_);
  Family& f = family(name, help, kGauge);
  if (find(f, labels)) throw std::invalid_argument(fmt::format("metric '{}': series registered twice", name));
  auto s = std::make_unique<Series>();
  s->labels = std::move(labels);
  s->callback = std::move(read);
  f.series.push_back(std::move(s));
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(4096);
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    append_escaped(out, f->help, false);
    out += "\n# TYPE ";
    out += f->name;
    out += ' ';
    out += kTypeNames[f->type];
    out += '\n';
    for (const auto& s : f->series) {
      if (s->histogram) {
        const Histogram::Reading r = s->histogram->read();
        const auto& bounds = s->histogram->upper_bounds();
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
          out += f->name;
          out += "_bucket";
          append_labels(out, s->labels, "le", i < bounds.size() ? format_double(bounds[i]) : "+Inf");
          out += ' ';
          out += std::to_string(r.cumulative[i]);
          out += '\n';
        }
        out += f->name;
        out += "_sum";
        append_labels(out, s->labels);
        out += ' ';
        out += format_double(r.sum);
        out += '\n';
        out += f->name;
        out += "_count";
        append_labels(out, s->labels);
        out += ' ';
        out += std::to_string(r.count);
        out += '\n';
        continue;
      }
      out += f->name;
      append_labels(out, s->labels);
      out += ' ';
      if (s->counter) out += std::to_string(s->counter->value());
      else if (s->gauge) out += std::to_string(s->gauge->value());
      else out += format_double(s->callback ? s->callback() : std::nan(""));
      out += '\n';
    }
  }
  return out;
}

// ---- The daemon's metrics ----------------------------------------------------------------

std::string_view to_string(MetricsOutcome outcome) {
  switch (outcome) {
    case MetricsOutcome::found: return "found";
    case MetricsOutcome::no_match: return "no_match";
    case MetricsOutcome::invalid: return "invalid";
    case MetricsOutcome::help: return "help";
    case MetricsOutcome::limit_crossed: return "limit_crossed";
    case MetricsOutcome::suspended: return "suspended";
  }
  return "unknown";
}

std::string_view to_string(ProxyRefusal reason) {
  switch (reason) {
    case ProxyRefusal::untrusted: return "untrusted";
    case ProxyRefusal::invalid: return "invalid";
  }
  return "unknown";
}

struct DaemonMetrics::Watched {
  const Clock* clock = nullptr;
  std::atomic<std::int64_t> exported_at{0};
  std::atomic<bool> snapshot_known{false};
  std::mutex mutex;  // guards the functions below, which the daemon may set while scrapes run
  std::function<std::uint64_t()> log_backlog, log_dropped, log_write_errors;
  std::function<std::uint64_t()> limiter_sources, suspensions_active, limiter_evicted;
  std::function<std::uint64_t()> admin_actions, state_write_errors;

  double call(std::function<std::uint64_t()> Watched::*which) {
    std::lock_guard lock(mutex);
    const auto& f = this->*which;
    return f ? static_cast<double>(f()) : 0.0;
  }
};

namespace {
constexpr std::string_view kConnectionsRefusedHelp = "Connections refused at accept because of a connection limit.";
constexpr std::string_view kTimeoutsHelp = "Connections closed because a read or a write took longer than its timeout.";
constexpr std::string_view kReloadsHelp = "Snapshot reloads, by result.";
constexpr std::string_view kConfigReloadsHelp =
    "Rereads of the configuration file at SIGHUP, by result (refused: the file or a value in it was rejected, "
    "each logged as config_reload_refused, and the running configuration kept).";
constexpr std::string_view kWriteErrorsHelp =
    "Failed transactions on the state database, by writer (each logged and retried; a rising count means a "
    "disk or file problem that can lose recorded queries or state).";

std::array<Counter*, kMetricsOutcomes> query_counters(MetricsRegistry& registry) {
  std::array<Counter*, kMetricsOutcomes> counters{};
  for (std::size_t i = 0; i < kMetricsOutcomes; ++i)
    counters[i] = &registry.counter("whoisd_queries_total", "Queries answered, by outcome.",
                                    {{"outcome", std::string(to_string(static_cast<MetricsOutcome>(i)))}});
  return counters;
}

std::array<Counter*, kProxyRefusals> proxy_refusal_counters(MetricsRegistry& registry) {
  std::array<Counter*, kProxyRefusals> counters{};
  for (std::size_t i = 0; i < kProxyRefusals; ++i)
    counters[i] = &registry.counter("whoisd_proxy_headers_refused_total",
                                    "Connections closed because of a PROXY header: from an untrusted peer, or malformed.",
                                    {{"reason", std::string(to_string(static_cast<ProxyRefusal>(i)))}});
  return counters;
}
}  // namespace

DaemonMetrics::DaemonMetrics(MetricsRegistry& registry, const Clock& clock)
    : registry_(registry),
      // Queries first, so that they lead the exposition text.
      queries_(query_counters(registry)),
      proxy_refused_(proxy_refusal_counters(registry)),
      suspensions(registry.counter("whoisd_suspensions_total", "Suspensions imposed on sources that crossed their limit.")),
      connections_open(registry.gauge("whoisd_connections_open", "Client connections open now.")),
      connections_total(registry.counter("whoisd_connections_total", "Client connections accepted.")),
      connections_refused_total(
          registry.counter("whoisd_connections_refused_total", kConnectionsRefusedHelp, {{"reason", "total"}})),
      connections_refused_per_source(
          registry.counter("whoisd_connections_refused_total", kConnectionsRefusedHelp, {{"reason", "per_source"}})),
      read_timeouts(registry.counter("whoisd_timeouts_total", kTimeoutsHelp, {{"kind", "read"}})),
      write_timeouts(registry.counter("whoisd_timeouts_total", kTimeoutsHelp, {{"kind", "write"}})),
      answer_seconds(registry.histogram("whoisd_answer_seconds", "Time from a query's arrival to its whole answer written.",
                                        std::vector<double>(kAnswerSecondsBuckets.begin(), kAnswerSecondsBuckets.end()))),
      snapshot_reloads_ok(registry.counter("whoisd_snapshot_reloads_total", kReloadsHelp, {{"result", "ok"}})),
      snapshot_reloads_failed(registry.counter("whoisd_snapshot_reloads_total", kReloadsHelp, {{"result", "failed"}})),
      snapshot_written_in_place(registry.counter(
          "whoisd_snapshot_written_in_place_total",
          "Served snapshot files seen written in place (copied over instead of renamed); their lookups are refused.")),
      config_reloads_applied(
          registry.counter("whoisd_config_reloads_total", kConfigReloadsHelp, {{"result", "applied"}})),
      config_reloads_refused(
          registry.counter("whoisd_config_reloads_total", kConfigReloadsHelp, {{"result", "refused"}})),
      snapshot_domains(registry.gauge("whoisd_snapshot_domains", "Domains in the snapshot being served.")),
      snapshot_bytes(registry.gauge("whoisd_snapshot_bytes", "Size of the snapshot file being served, in bytes.")),
      watched_(std::make_shared<Watched>()) {
  watched_->clock = &clock;
  std::shared_ptr<Watched> w = watched_;
  registry.gauge_callback("whoisd_snapshot_age_seconds", "Seconds since the snapshot being served was exported.", {},
                          [w] {
                            if (!w->snapshot_known.load(std::memory_order_acquire)) return std::nan("");
                            return static_cast<double>(w->clock->now() - w->exported_at.load(std::memory_order_relaxed));
                          });
  registry.gauge_callback("whoisd_querylog_backlog", "Query log entries waiting to be written.", {},
                          [w] { return w->call(&Watched::log_backlog); });
  registry.counter_callback("whoisd_querylog_dropped_total", "Query log entries dropped because the queue was full.", {},
                            [w] { return w->call(&Watched::log_dropped); });
  registry.counter_callback("whoisd_log_lines_dropped_total",
                            "Log lines dropped because standard error (journald, a pipe) was not read fast enough "
                            "(the daemon never waits for it) or because a write to it failed (EPIPE: its reader is "
                            "gone; ENOSPC, EIO: a full or failing disk); each drop is also reported in a "
                            "log_lines_dropped line once a write succeeds.",
                            {}, [] { return log::lines_dropped(); });
  registry.gauge_callback("whoisd_limiter_sources", "Sources the limiter keeps counts for.", {},
                          [w] { return w->call(&Watched::limiter_sources); });
  registry.gauge_callback("whoisd_suspensions_active",
                          "Sources suspended now, by their limit or by an operator (an ended suspension leaves "
                          "within a second).",
                          {}, [w] { return w->call(&Watched::suspensions_active); });
  registry.counter_callback("whoisd_limiter_sources_evicted_total",
                            "Sources the limiter forgot to make room for new ones at [limits] max_sources (their "
                            "queries no longer count; logged as limiter_full).",
                            {}, [w] { return w->call(&Watched::limiter_evicted); });
  registry.counter_callback("whoisd_admin_actions_total",
                            "Operator commands (whoisd-admin suspend, lift) the daemon has taken up: carried out, or refused with "
                            "a reason (each one logged as admin_action).", {},
                            [w] { return w->call(&Watched::admin_actions); });
  registry.counter_callback("whoisd_state_write_errors_total", kWriteErrorsHelp, {{"writer", "query_log"}},
                            [w] { return w->call(&Watched::log_write_errors); });
  registry.counter_callback("whoisd_state_write_errors_total", kWriteErrorsHelp, {{"writer", "state"}},
                            [w] { return w->call(&Watched::state_write_errors); });
}

void DaemonMetrics::set_snapshot(std::int64_t exported_at, std::int64_t domains, std::int64_t file_bytes) {
  watched_->exported_at.store(exported_at, std::memory_order_relaxed);
  watched_->snapshot_known.store(true, std::memory_order_release);
  snapshot_domains.set(domains);
  snapshot_bytes.set(file_bytes);
}

void DaemonMetrics::watch_query_log(std::function<std::uint64_t()> backlog, std::function<std::uint64_t()> dropped,
                                    std::function<std::uint64_t()> write_errors) {
  std::lock_guard lock(watched_->mutex);
  watched_->log_backlog = std::move(backlog);
  watched_->log_dropped = std::move(dropped);
  watched_->log_write_errors = std::move(write_errors);
}

void DaemonMetrics::watch_limiter(std::function<std::uint64_t()> sources,
                                  std::function<std::uint64_t()> suspensions_active,
                                  std::function<std::uint64_t()> sources_evicted) {
  std::lock_guard lock(watched_->mutex);
  watched_->limiter_sources = std::move(sources);
  watched_->suspensions_active = std::move(suspensions_active);
  watched_->limiter_evicted = std::move(sources_evicted);
}

void DaemonMetrics::watch_state(std::function<std::uint64_t()> admin_actions,
                                std::function<std::uint64_t()> write_errors) {
  std::lock_guard lock(watched_->mutex);
  watched_->admin_actions = std::move(admin_actions);
  watched_->state_write_errors = std::move(write_errors);
}

}  // namespace whoisd
