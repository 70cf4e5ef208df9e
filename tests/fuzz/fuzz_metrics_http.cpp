// Fuzzes the metrics endpoint's request handling with whatever a local client might
// send as a request head, checking that every response is well formed: a known status
// line, a Content-Length that matches the body (none for HEAD), and the exposition text
// only for GET/HEAD /metrics.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/metrics.h"
#include "server/metrics_http.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

whoisd::MetricsRegistry& registry() {
  static whoisd::MetricsRegistry r;
  static bool once = [] {
    r.counter("fuzz_total", "Fuzz.", {{"k", "v"}}).inc();
    return true;
  }();
  (void)once;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view request(reinterpret_cast<const char*>(data), size);
  const std::string response = whoisd::metrics_http_response(request, registry());

  const std::size_t head_end = response.find("\r\n\r\n");
  check(head_end != std::string::npos);
  const std::string_view head = std::string_view(response).substr(0, head_end + 4);
  const std::string_view body = std::string_view(response).substr(head_end + 4);
  const bool ok = head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0;
  check(ok || head.rfind("HTTP/1.1 400 ", 0) == 0 || head.rfind("HTTP/1.1 404 ", 0) == 0 ||
        head.rfind("HTTP/1.1 405 ", 0) == 0);
  check(head.find("\r\nConnection: close\r\n") != std::string_view::npos);

  const std::size_t length_at = head.find("\r\nContent-Length: ");
  check(length_at != std::string_view::npos);
  const std::size_t length = std::strtoul(std::string(head.substr(length_at + 18)).c_str(), nullptr, 10);
  const bool is_head = request.rfind("HEAD ", 0) == 0;
  check(body.size() == length || (is_head && body.empty()));
  if (is_head) check(body.empty());  // whatever the status
  if (ok) {
    // Origin form ("/metrics") or absolute form ("http://host:port/metrics").
    check(request.rfind("GET ", 0) == 0 || is_head);
    check(request.find("/metrics") != std::string_view::npos);
    if (!is_head) check(body == registry().render());
  }
  return 0;
}
