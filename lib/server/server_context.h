// The services every event loop shares: one query handler (limiter, parser,
// snapshot), one query log, one metrics registry and one count of open connections.
// Each is thread-safe; the loops hold references, the daemon owns them.
#pragma once

namespace whoisd {

class QueryHandler;
class QueryLogSink;
class DaemonMetrics;
class ConnectionLimits;

struct ServerContext {
  const QueryHandler& handler;
  QueryLogSink& query_log;
  DaemonMetrics& metrics;
  ConnectionLimits& connections;
};

}  // namespace whoisd
