// The metrics endpoint: a tiny HTTP/1.0 and 1.1 server on its own libuv loop and thread,
// so that a slow scraper never delays an answer. GET (or HEAD) /metrics gets the registry's
// exposition text; any other path 404, any other method 405, a malformed or oversized
// request 400/431. One request per connection; the connection closes after the response,
// and one that does not send a whole request within the read timeout is closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/listen_address.h"
#include "server/metrics.h"

namespace whoisd {

struct MetricsHttpOptions {
  std::chrono::milliseconds read_timeout{5000};
  std::size_t max_request_bytes = 8192;  // request line and headers
  // Beyond it, the oldest connection that has not sent a whole request is closed to make
  // room (the newcomer, when all are being answered).
  int max_connections = 64;
};

class MetricsHttpServer {
 public:
  explicit MetricsHttpServer(const MetricsRegistry& registry, MetricsHttpOptions options = {});
  ~MetricsHttpServer();  // stop()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds and listens on `listen` (port 0 picks a free one) in the calling thread, without
  // serving yet: the daemon binds before it drops its privileges, so that a port below
  // 1024 works, and serves once it runs as its own user. The socket is listen_socket.h's
  // (an IPv6 one is IPv6-only), bound as --check-config binds it. Throws
  // std::runtime_error naming the setting, the address and the cause when it cannot be
  // bound or listened on. Call once.
  void bind(const ListenAddress& listen);
  // Serves what bind() bound, on a new thread.
  void serve();
  // bind(), then serve().
  void start(const ListenAddress& listen);
  // Closes the listener and every connection and joins the thread (or, bound but not
  // serving, just closes the listener). Idempotent.
  void stop();
  // The bound port (after bind()).
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The complete response (status line, headers, body) to one request head (everything up
// to and including the blank line). Pure; exposed for tests.
std::string metrics_http_response(std::string_view request_head, const MetricsRegistry& registry);

}  // namespace whoisd
