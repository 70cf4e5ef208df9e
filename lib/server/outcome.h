// How one connection ended, as the server counts and logs it. The query log
// (state/query_log.h) and the metrics (server/metrics.h) each have their own list;
// the server speaks this one and maps it at the edges (query_log_sink.cpp,
// connection_metrics.cpp), so that neither header has to know the other.
#pragma once

#include <string_view>

namespace whoisd {

enum class Outcome {
  found,                 // a published domain's answer
  no_match,              // "<domain> - no match"
  invalid,               // "Invalid query: ..." (also a line too long)
  malformed_proxy_header,  // a trusted proxy's PROXY header that does not parse: answered as invalid,
                           // refused before the limiter (connection.cpp process_proxy_header)
  help,                  // the help text
  limit_crossed,         // the query that crossed the limit
  suspended,             // a query while suspended
  too_many_connections,  // refused before reading: the source or the server has too many connections
  timeout,               // no complete line within the read timeout
  error,                 // the client went away or the socket failed before an answer
};

std::string_view to_string(Outcome outcome);

}  // namespace whoisd
