#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "support/test_address.h"

using namespace whoisd;
using whoisd::test::ip;

TEST_CASE("exposition text of counters, gauges, callbacks and a histogram", "[metrics]") {
  MetricsRegistry registry;
  Counter& found = registry.counter("demo_queries_total", "Queries, by outcome.", {{"outcome", "found"}});
  Counter& invalid = registry.counter("demo_queries_total", "Queries, by outcome.", {{"outcome", "invalid"}});
  Gauge& open = registry.gauge("demo_open", "Open now.");
  Histogram& seconds = registry.histogram("demo_seconds", "Answer time.", {0.001, 0.5, 1});
  registry.gauge_callback("demo_age_seconds", "Computed at scrape time.", {{"a", "x\"y\\z\nw"}}, [] { return 2.5; });
  registry.counter_callback("demo_dropped_total", "From a callback.", {}, [] { return 7.0; });
  found.inc();
  found.inc(41);
  invalid.inc();
  open.set(5);
  open.dec();
  seconds.observe(0.0005);
  seconds.observe(0.001);  // le is inclusive
  seconds.observe(0.25);
  seconds.observe(3);

  CHECK(registry.render() ==
        "# HELP demo_queries_total Queries, by outcome.\n"
        "# TYPE demo_queries_total counter\n"
        "demo_queries_total{outcome=\"found\"} 42\n"
        "demo_queries_total{outcome=\"invalid\"} 1\n"
        "# HELP demo_open Open now.\n"
        "# TYPE demo_open gauge\n"
        "demo_open 4\n"
        "# HELP demo_seconds Answer time.\n"
        "# TYPE demo_seconds histogram\n"
        "demo_seconds_bucket{le=\"0.001\"} 2\n"
        "demo_seconds_bucket{le=\"0.5\"} 3\n"
        "demo_seconds_bucket{le=\"1\"} 3\n"
        "demo_seconds_bucket{le=\"+Inf\"} 4\n"
        "demo_seconds_sum 3.2515\n"
        "demo_seconds_count 4\n"
        "# HELP demo_age_seconds Computed at scrape time.\n"
        "# TYPE demo_age_seconds gauge\n"
        "demo_age_seconds{a=\"x\\\"y\\\\z\\nw\"} 2.5\n"
        "# HELP demo_dropped_total From a callback.\n"
        "# TYPE demo_dropped_total counter\n"
        "demo_dropped_total 7\n");
}

TEST_CASE("registering again returns the same series; conflicts are refused", "[metrics]") {
  MetricsRegistry registry;
  Counter& a = registry.counter("x_total", "Help.", {{"k", "v"}});
  CHECK(&registry.counter("x_total", "Help.", {{"k", "v"}}) == &a);
  CHECK(&registry.counter("x_total", "Help.", {{"k", "w"}}) != &a);
  CHECK_THROWS_AS(registry.gauge("x_total", "Help."), std::invalid_argument);
  CHECK_THROWS_AS(registry.counter("x_total", "Other help."), std::invalid_argument);
  CHECK_THROWS_AS(registry.counter("9lives", "Help."), std::invalid_argument);
  CHECK_THROWS_AS(registry.counter("bad-name", "Help."), std::invalid_argument);
  CHECK_THROWS_AS(registry.counter("y_total", "Help.", {{"bad label", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(registry.histogram("h", "Help.", {1}, {{"le", "1"}}), std::invalid_argument);
  CHECK_THROWS_AS(registry.histogram("h2", "Help.", {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(registry.histogram("h3", "Help.", {2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(registry.histogram("h4", "Help.", {1, INFINITY}), std::invalid_argument);
  CHECK_THROWS_AS(registry.gauge_callback("x_total", "Help.", {{"k", "v"}}, [] { return 1.0; }), std::invalid_argument);
}

TEST_CASE("histogram labels come before le; NaN counts in +Inf", "[metrics]") {
  MetricsRegistry registry;
  Histogram& h = registry.histogram("t_seconds", "T.", {1}, {{"kind", "read"}});
  h.observe(std::nan(""));
  h.observe(0.5);
  const std::string text = registry.render();
  CHECK(text.find("t_seconds_bucket{kind=\"read\",le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("t_seconds_bucket{kind=\"read\",le=\"+Inf\"} 2\n") != std::string::npos);
  CHECK(text.find("t_seconds_count{kind=\"read\"} 2\n") != std::string::npos);
}

TEST_CASE("increments from several threads are all counted", "[metrics]") {
  MetricsRegistry registry;
  Counter& counter = registry.counter("c_total", "C.");
  Gauge& gauge = registry.gauge("g", "G.");
  Histogram& histogram = registry.histogram("h_seconds", "H.", {0.5});
  constexpr int kThreads = 4, kEach = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        counter.inc();
        gauge.inc();
        if (i % 2) gauge.dec();
        histogram.observe(t % 2 ? 0.25 : 1.0);
        if (i % 10000 == 0) (void)registry.render();  // scrapes while counting
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(counter.value() == std::uint64_t{kThreads} * kEach);
  CHECK(gauge.value() == std::int64_t{kThreads} * kEach / 2);
  const Histogram::Reading r = histogram.read();
  CHECK(r.count == std::uint64_t{kThreads} * kEach);
  CHECK(r.cumulative[0] == std::uint64_t{kThreads} * kEach / 2);
  CHECK(r.sum == Approx(kThreads / 2 * kEach * 0.25 + kThreads / 2 * kEach * 1.0));
}

TEST_CASE("the daemon's families", "[metrics]") {
  MetricsRegistry registry;
  ManualClock clock(1'000'000);
  DaemonMetrics m(registry, clock);
  std::string text = registry.render();
  CHECK(text.rfind("# HELP whoisd_queries_total ", 0) == 0);  // first in the text
  CHECK(text.find("whoisd_snapshot_age_seconds NaN\n") != std::string::npos);
  CHECK(text.find("whoisd_querylog_backlog 0\n") != std::string::npos);
  for (const char* series :
       {"whoisd_queries_total{outcome=\"found\"} 0\n", "whoisd_queries_total{outcome=\"no_match\"} 0\n",
        "whoisd_queries_total{outcome=\"invalid\"} 0\n", "whoisd_queries_total{outcome=\"help\"} 0\n",
        "whoisd_queries_total{outcome=\"limit_crossed\"} 0\n", "whoisd_queries_total{outcome=\"suspended\"} 0\n",
        "whoisd_suspensions_total 0\n", "whoisd_connections_open 0\n", "whoisd_connections_total 0\n",
        "whoisd_connections_refused_total{reason=\"total\"} 0\n",
        "whoisd_connections_refused_total{reason=\"per_source\"} 0\n", "whoisd_timeouts_total{kind=\"read\"} 0\n",
        "whoisd_timeouts_total{kind=\"write\"} 0\n", "whoisd_proxy_headers_refused_total{reason=\"untrusted\"} 0\n",
        "whoisd_proxy_headers_refused_total{reason=\"invalid\"} 0\n", "whoisd_answer_seconds_bucket{le=\"5e-05\"} 0\n",
        "whoisd_answer_seconds_bucket{le=\"1\"} 0\n", "whoisd_answer_seconds_count 0\n",
        "whoisd_snapshot_reloads_total{result=\"ok\"} 0\n", "whoisd_snapshot_reloads_total{result=\"failed\"} 0\n",
        "whoisd_config_reloads_total{result=\"applied\"} 0\n", "whoisd_config_reloads_total{result=\"refused\"} 0\n",
        "whoisd_snapshot_domains 0\n", "whoisd_snapshot_bytes 0\n", "whoisd_querylog_dropped_total 0\n",
        "whoisd_limiter_sources 0\n", "whoisd_suspensions_active 0\n", "whoisd_admin_actions_total 0\n",
        "whoisd_state_write_errors_total{writer=\"query_log\"} 0\n",
        "whoisd_state_write_errors_total{writer=\"state\"} 0\n"}) {
    INFO(series);
    CHECK(text.find(series) != std::string::npos);
  }

  m.query(MetricsOutcome::no_match).inc();
  m.proxy_refused(ProxyRefusal::untrusted).inc(2);
  m.answer_seconds.observe(0.0003);
  m.set_snapshot(1'000'000 - 3600, 1234, 56789);
  m.config_reloads_applied.inc();
  m.config_reloads_refused.inc(2);
  clock.advance(60);
  m.watch_query_log([] { return std::uint64_t{17}; }, [] { return std::uint64_t{3}; }, [] { return std::uint64_t{4}; });
  m.watch_limiter([] { return std::uint64_t{99}; }, [] { return std::uint64_t{7}; }, [] { return std::uint64_t{8}; });
  m.watch_state([] { return std::uint64_t{5}; }, [] { return std::uint64_t{6}; });
  text = registry.render();
  CHECK(text.find("whoisd_queries_total{outcome=\"no_match\"} 1\n") != std::string::npos);
  CHECK(text.find("whoisd_proxy_headers_refused_total{reason=\"untrusted\"} 2\n") != std::string::npos);
  CHECK(text.find("whoisd_answer_seconds_bucket{le=\"0.00025\"} 0\n") != std::string::npos);
  CHECK(text.find("whoisd_answer_seconds_bucket{le=\"0.0005\"} 1\n") != std::string::npos);
  CHECK(text.find("whoisd_snapshot_age_seconds 3660\n") != std::string::npos);
  CHECK(text.find("whoisd_config_reloads_total{result=\"applied\"} 1\n") != std::string::npos);
  CHECK(text.find("whoisd_config_reloads_total{result=\"refused\"} 2\n") != std::string::npos);
  CHECK(text.find("# TYPE whoisd_config_reloads_total counter\n") != std::string::npos);
  CHECK(text.find("whoisd_snapshot_domains 1234\n") != std::string::npos);
  CHECK(text.find("whoisd_snapshot_bytes 56789\n") != std::string::npos);
  CHECK(text.find("whoisd_querylog_backlog 17\n") != std::string::npos);
  CHECK(text.find("whoisd_querylog_dropped_total 3\n") != std::string::npos);
  CHECK(text.find("whoisd_limiter_sources 99\n") != std::string::npos);
  CHECK(text.find("whoisd_suspensions_active 7\n") != std::string::npos);
  CHECK(text.find("whoisd_limiter_sources_evicted_total 8\n") != std::string::npos);
  CHECK(text.find("whoisd_admin_actions_total 5\n") != std::string::npos);
  CHECK(text.find("whoisd_state_write_errors_total{writer=\"query_log\"} 4\n") != std::string::npos);
  CHECK(text.find("whoisd_state_write_errors_total{writer=\"state\"} 6\n") != std::string::npos);
}

TEST_CASE("HTTP responses", "[metrics]") {
  MetricsRegistry registry;
  registry.counter("one_total", "One.").inc();
  const std::string body = registry.render();
  const std::string ok = metrics_http_response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", registry);
  CHECK(ok == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  CHECK(metrics_http_response("GET /metrics?x=1 HTTP/1.0\n\n", registry) == ok);
  const std::string head = metrics_http_response("HEAD /metrics HTTP/1.1\r\n\r\n", registry);
  CHECK(head == ok.substr(0, ok.size() - body.size()));
  CHECK(metrics_http_response("GET / HTTP/1.1\r\n\r\n", registry).rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
  CHECK(metrics_http_response("GET /metricsx HTTP/1.1\r\n\r\n", registry).rfind("HTTP/1.1 404 ", 0) == 0);
  const std::string post = metrics_http_response("POST /metrics HTTP/1.1\r\n\r\n", registry);
  CHECK(post.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
  CHECK(post.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
  CHECK(metrics_http_response("GET /metrics\r\n\r\n", registry).rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(metrics_http_response("GET /metrics HTTP/2.0\r\n\r\n", registry).rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(metrics_http_response("GET  /metrics HTTP/1.1\r\n\r\n", registry).rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(metrics_http_response("\r\n\r\n", registry).rfind("HTTP/1.1 400 ", 0) == 0);
  // The absolute form, which a server must accept (RFC 9112 3.2.2), names the same path.
  CHECK(metrics_http_response("GET http://127.0.0.1:9143/metrics HTTP/1.1\r\n\r\n", registry) == ok);
  CHECK(metrics_http_response("GET HTTP://localhost/metrics?x HTTP/1.1\r\n\r\n", registry) == ok);
  CHECK(metrics_http_response("GET http://localhost HTTP/1.1\r\n\r\n", registry).rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(metrics_http_response("GET http://localhost/ HTTP/1.1\r\n\r\n", registry).rfind("HTTP/1.1 404 ", 0) == 0);
  // "HEAD" alone is no request line: a 400 with its body (the fuzzer's find).
  const std::string bare = metrics_http_response("HEAD", registry);
  CHECK(bare.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(bare.substr(bare.size() - 17) == "bad request line\n");
  // A response to HEAD has no body, whatever its status.
  for (const char* request : {"HEAD /metrics HTTP/2.0\r\n\r\n", "HEAD  /metrics HTTP/1.1\r\n\r\n", "HEAD /x HTTP/1.1\r\n\r\n"}) {
    INFO(request);
    const std::string response = metrics_http_response(request, registry);
    CHECK(response.size() == response.find("\r\n\r\n") + 4);
    CHECK(response.find("Content-Length: 0\r\n") == std::string::npos);  // the length of the body a GET gets
  }
}

namespace {

// Connects to 127.0.0.1:port, sends `request`, and returns the whole reply (read until
// the server closes); nullopt when the socket, the connection or the wait for the reply
// failed. Free of Catch2's macros, so that threads may call it (Catch2's assertions are
// not thread-safe: ThreadSanitizer reports their counters).
std::optional<std::string> try_exchange(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on an oversized request
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[4096];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) {  // a hang fails the test instead of blocking it
      ::close(fd);
      return std::nullopt;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

std::string exchange(std::uint16_t port, const std::string& request) {
  std::optional<std::string> reply = try_exchange(port, request);
  REQUIRE(reply.has_value());
  return *reply;
}

}  // namespace

TEST_CASE("GET /metrics over loopback", "[metrics][http]") {
  MetricsRegistry registry;
  ManualClock clock;
  DaemonMetrics metrics(registry, clock);
  metrics.query(MetricsOutcome::found).inc(3);
  MetricsHttpOptions options;
  options.read_timeout = std::chrono::milliseconds(300);
  options.max_request_bytes = 512;
  MetricsHttpServer server(registry, options);
  server.start({ip("127.0.0.1"), 0});
  REQUIRE(server.port() != 0);

  const std::string reply = exchange(server.port(), "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(reply.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != std::string::npos);
  CHECK(reply.find("\r\n\r\n# HELP whoisd_queries_total ") != std::string::npos);
  CHECK(reply.find("whoisd_queries_total{outcome=\"found\"} 3\n") != std::string::npos);
  // Sent in pieces, as some clients do.
  CHECK(exchange(server.port(), "GET /met").empty());  // closed at the read timeout, nothing answered
  CHECK(exchange(server.port(), "GET /nothing HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(exchange(server.port(), "DELETE /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0) == 0);
  // Empty lines before the request line are ignored (RFC 9112 2.2), not taken for an empty head.
  CHECK(exchange(server.port(), "\r\n\nGET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(exchange(server.port(), "GET /metrics HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n")
            .rfind("HTTP/1.1 431 ", 0) == 0);
  // Several scrapes at once, from several threads.
  std::vector<std::thread> scrapers;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i)
    scrapers.emplace_back([&] {
      std::optional<std::string> scraped = try_exchange(server.port(), "GET /metrics HTTP/1.0\r\n\r\n");
      if (scraped && scraped->rfind("HTTP/1.1 200 OK\r\n", 0) == 0) ++good;
    });
  for (auto& t : scrapers) t.join();
  CHECK(good == 8);
  server.stop();
  server.stop();  // idempotent
}

namespace {

// A connection to 127.0.0.1:port that sends nothing; -1 when it could not connect.
int connect_idle(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// True when the server closed fd (end of file within a second).
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  char byte;
  return ::poll(&p, 1, 1000) == 1 && ::recv(fd, &byte, 1, 0) == 0;
}

}  // namespace

TEST_CASE("idle connections cannot keep a scrape out", "[metrics][http]") {
  MetricsRegistry registry;
  registry.counter("one_total", "One.").inc();
  MetricsHttpOptions options;
  options.read_timeout = std::chrono::milliseconds(30000);  // longer than the test: only eviction frees a place
  options.max_connections = 4;
  MetricsHttpServer server(registry, options);
  server.start({ip("127.0.0.1"), 0});
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_idle(server.port()));
  for (int fd : idle) REQUIRE(fd >= 0);
  // Every place is taken by a connection that sent nothing: a scrape still gets its answer,
  // in place of the oldest of them.
  CHECK(exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(closed_by_server(idle[0]));
  // That scrape's place is free again; taken by one more idle connection, the next scrape
  // makes room in place of the next oldest.
  idle.push_back(connect_idle(server.port()));
  REQUIRE(idle.back() >= 0);
  CHECK(exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(closed_by_server(idle[1]));
  // The newer ones are still open (nothing to read, no end of file).
  pollfd p{idle[3], POLLIN, 0};
  CHECK(::poll(&p, 1, 100) == 0);
  for (int fd : idle) ::close(fd);
  server.stop();
}

TEST_CASE("the metrics port is bound before it is served", "[metrics][http]") {
  MetricsRegistry registry;
  {
    MetricsHttpServer server(registry);
    server.bind({ip("127.0.0.1"), 0});
    REQUIRE(server.port() != 0);
    // Bound, not yet served: the kernel completes the connection, nobody answers yet.
    const int fd = connect_idle(server.port());
    CHECK(fd >= 0);
    server.serve();
    const std::string reply = exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n");
    CHECK(reply.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    if (fd >= 0) ::close(fd);
  }
  {
    MetricsHttpServer server(registry);
    server.bind({ip("127.0.0.1"), 0});
    const std::uint16_t port = server.port();
    server.stop();  // never served: closes the listener
    CHECK(connect_idle(port) < 0);
  }
}

TEST_CASE("metrics endpoint: a refused bind names the setting, the address and the cause", "[metrics][http]") {
  MetricsRegistry registry;
  MetricsHttpServer first(registry);
  first.bind({ip("127.0.0.1"), 0});
  const ListenAddress taken{ip("127.0.0.1"), first.port()};
  MetricsHttpServer second(registry);
  const std::string port = std::to_string(taken.port);
  CHECK_THROWS_WITH(second.bind(taken), "[metrics] listen '127.0.0.1:" + port + "': cannot bind it: port " + port +
                                            " on 127.0.0.1 is in use (another whoisd, or another program, listens "
                                            "there) (bind: Address already in use)");
}

TEST_CASE("metrics endpoint: [::] is IPv6 only, as every listen address of whoisd", "[metrics][http]") {
  MetricsRegistry registry;
  MetricsHttpServer v6(registry);
  try {
    v6.start({ip("::"), 0});
  } catch (const std::runtime_error& e) {
    WARN("no IPv6 on this host: " << e.what());
    return;
  }
  REQUIRE(v6.port() != 0);
  // An IPv4 connection to its port does not reach it, and an IPv4 socket may take that port beside it.
  CHECK(connect_idle(v6.port()) < 0);
  MetricsHttpServer v4(registry);
  CHECK_NOTHROW(v4.start({ip("127.0.0.1"), v6.port()}));
  const std::string reply = exchange(v4.port(), "GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
}
