#include "server/metrics_http.h"

#include <unistd.h>
#include <uv.h>

#include <csignal>
#include <cctype>
#include <stdexcept>
#include <unordered_set>

#include <fmt/format.h>

#include "common/errno_error.h"
#include "common/thread_setup.h"
#include "server/bind_failure.h"
#include "server/listen_socket.h"

namespace whoisd {
namespace {

std::string response(std::string_view status, std::string_view content_type, std::string_view body, bool head,
                     std::string_view extra_headers = {}) {
  std::string out = fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
                                status, content_type, body.size(), extra_headers);
  if (!head) out += body;
  return out;
}

std::string plain(std::string_view status, std::string_view body, bool head = false, std::string_view extra = {}) {
  return response(status, "text/plain; charset=utf-8", body, head, extra);
}

// The end of the request head ("\r\n\r\n", or "\n\n" from lax clients); npos if not yet.
std::size_t head_end(std::string_view request) {
  const std::size_t crlf = request.find("\r\n\r\n");
  const std::size_t lf = request.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  if (crlf == std::string_view::npos) return lf + 2;
  if (lf == std::string_view::npos) return crlf + 4;
  return crlf + 4 < lf + 2 ? crlf + 4 : lf + 2;
}

// The path and query of a request target: an absolute-form target
// ("http://127.0.0.1:9143/metrics", which a server must accept, RFC 9112 3.2.2) loses its
// scheme and authority; an origin-form one ("/metrics") is returned as it is.
std::string_view origin_form(std::string_view target) {
  const auto starts_with_nocase = [](std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
    return true;
  };
  std::size_t scheme = 0;
  if (starts_with_nocase(target, "http://")) scheme = 7;
  else if (starts_with_nocase(target, "https://")) scheme = 8;
  else return target;
  const std::size_t path = target.find_first_of("/?", scheme);
  if (path == std::string_view::npos) return "/";
  if (target[path] == '?') return "/";  // "http://host?x": the path is empty, that is "/"
  return target.substr(path);
}

// Drops the empty lines a client may send before its request line (RFC 9112 2.2: a server
// should ignore at least one), so that they are not taken for the end of an empty head.
void drop_leading_empty_lines(std::string& request) {
  std::size_t skip = 0;
  while (skip < request.size() && (request[skip] == '\n' || (request[skip] == '\r' && skip + 1 < request.size() &&
                                                               request[skip + 1] == '\n')))
    skip += request[skip] == '\r' ? 2 : 1;
  request.erase(0, skip);
}

}  // namespace

std::string metrics_http_response(std::string_view request_head, const MetricsRegistry& registry) {
  std::size_t line_end = request_head.find('\n');
  if (line_end == std::string_view::npos) line_end = request_head.size();
  std::string_view line = request_head.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // request-line = method SP request-target SP HTTP-version
  const std::size_t first = line.find(' ');
  const std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  // A response to HEAD has no body, whatever its status (RFC 9110 9.3.2).
  const bool head = first != std::string_view::npos && line.substr(0, first) == "HEAD";
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos)
    return plain("400 Bad Request", "bad request line\n", head);
  const std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (version != "HTTP/1.0" && version != "HTTP/1.1")
    return plain("400 Bad Request", "unsupported HTTP version\n", head);
  if (method.empty() || target.empty()) return plain("400 Bad Request", "bad request line\n", head);
  if (method != "GET" && !head) return plain("405 Method Not Allowed", "only GET and HEAD\n", false, "Allow: GET, HEAD\r\n");
  target = origin_form(target);
  if (const std::size_t query = target.find('?'); query != std::string_view::npos) target = target.substr(0, query);
  if (target != "/metrics") return plain("404 Not Found", "not found; metrics are at /metrics\n", head);
  return response("200 OK", kPrometheusContentType, registry.render(), head);
}

struct MetricsHttpServer::Impl {
  const MetricsRegistry& registry;
  MetricsHttpOptions options;
  uv_loop_t loop{};
  uv_tcp_t listener{};
  uv_async_t stop_signal{};
  uv_thread_t thread{};
  bool bound = false;    // bind() succeeded; stop() not yet called
  bool running = false;  // serve() started the thread
  std::uint16_t port = 0;

  struct Client {
    Impl* server = nullptr;
    uv_tcp_t tcp{};
    uv_timer_t timer{};
    uv_write_t write{};
    std::string request;
    std::string response;
    std::uint64_t sequence = 0;  // order of acceptance
    int open_handles = 2;
    bool responding = false;
    bool closing = false;
    char buffer[1024];
  };
  std::unordered_set<Client*> clients;
  std::uint64_t accepted = 0;

  Impl(const MetricsRegistry& r, MetricsHttpOptions o) : registry(r), options(o) {}

  static void close_client(Client* c) {
    if (c->closing) return;
    c->closing = true;
    const auto closed = [](uv_handle_t* h) {
      auto* client = static_cast<Client*>(h->data);
      if (--client->open_handles == 0) {
        client->server->clients.erase(client);
        delete client;
      }
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), closed);
  }

  static void respond(Client* c, std::string text) {
    c->responding = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->response = std::move(text);
    uv_buf_t buf = uv_buf_init(c->response.data(), static_cast<unsigned>(c->response.size()));
    // The read timer keeps running: a scraper that does not take the response is closed too.
    const int rc = uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
                            [](uv_write_t* w, int) { close_client(static_cast<Client*>(w->data)); });
    if (rc != 0) close_client(c);
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<Client*>(stream->data);
    if (nread < 0) {  // EOF or error before a whole request
      close_client(c);
      return;
    }
    c->request.append(c->buffer, static_cast<std::size_t>(nread));
    drop_leading_empty_lines(c->request);
    const std::size_t end = head_end(c->request);
    if (end != std::string::npos && end <= c->server->options.max_request_bytes) {
      respond(c, metrics_http_response(std::string_view(c->request).substr(0, end), c->server->registry));
    } else if (c->request.size() > c->server->options.max_request_bytes) {
      respond(c, plain("431 Request Header Fields Too Large", "request too large\n",
                       c->request.rfind("HEAD ", 0) == 0));
    }
  }

  static void on_connection(uv_stream_t* listener_stream, int status) {
    auto* self = static_cast<Impl*>(listener_stream->data);
    if (status < 0) return;
    auto* c = new Client;
    c->server = self;
    c->tcp.data = c;
    c->timer.data = c;
    c->write.data = c;
    uv_tcp_init(&self->loop, &c->tcp);
    uv_timer_init(&self->loop, &c->timer);
    c->sequence = ++self->accepted;
    self->clients.insert(c);
    if (uv_accept(listener_stream, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      close_client(c);
      return;
    }
    if (self->open_clients() > static_cast<std::size_t>(self->options.max_connections)) {
      // Full: make room by closing the oldest connection that has not sent a whole request
      // yet, so that connections left idle (by a broken scraper, or by a local user on
      // purpose) cannot keep the scraper out until their read timeouts. A newcomer is
      // closed only when every other connection is being answered.
      Client* oldest_idle = nullptr;
      for (Client* other : self->clients)
        if (other != c && !other->closing && !other->responding &&
            (!oldest_idle || other->sequence < oldest_idle->sequence))
          oldest_idle = other;
      if (!oldest_idle) {
        close_client(c);
        return;
      }
      close_client(oldest_idle);
    }
    uv_timer_start(&c->timer, [](uv_timer_t* t) { close_client(static_cast<Client*>(t->data)); },
                   static_cast<std::uint64_t>(self->options.read_timeout.count()), 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
          auto* client = static_cast<Client*>(h->data);
          *buf = uv_buf_init(client->buffer, sizeof client->buffer);
        },
        on_read);
  }

  // Connections not yet being closed (a closed one stays in `clients` until libuv has
  // closed its handles).
  std::size_t open_clients() const {
    std::size_t open = 0;
    for (const Client* c : clients) open += c->closing ? 0 : 1;
    return open;
  }

  static void on_stop(uv_async_t* async) {
    auto* self = static_cast<Impl*>(async->data);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->listener), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_signal), nullptr);
    const std::vector<Client*> open(self->clients.begin(), self->clients.end());
    for (Client* c : open) close_client(c);
  }
};

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry& registry, MetricsHttpOptions options)
    : impl_(std::make_unique<Impl>(registry, options)) {}

MetricsHttpServer::~MetricsHttpServer() { stop(); }

void MetricsHttpServer::bind(const ListenAddress& listen) {
  Impl& s = *impl_;
  if (s.bound) throw std::logic_error("metrics endpoint bound twice");
  const std::string name = listen.to_string();
  // The socket, its options and the words of a refusal are the whois listeners' and
  // --check-config's (listen_socket.h, bind_failure.h): what the check passes, this binds.
  const BoundSocket bound = bind_listen_socket(listen, metrics_listener_options());
  // ErrnoError: a failed start passes the errno on to systemd (ERRNO=), as for a whois listener.
  if (bound.fd < 0)
    throw ErrnoError(fmt::format("[metrics] listen '{}': cannot bind it: {}", name,
                                 bind_failure_cause(listen, "[metrics] listen", bound.step, bound.error,
                                                    this_process_identity())),
                     bound.error);
  const auto address = bound_address(bound.fd);  // the port the kernel chose for port 0
  if (int rc = uv_loop_init(&s.loop); rc != 0) {
    ::close(bound.fd);
    throw std::runtime_error(fmt::format("metrics endpoint: event loop: {}", uv_strerror(rc)));
  }
  uv_tcp_init(&s.loop, &s.listener);
  s.listener.data = &s;
  int rc = uv_tcp_open(&s.listener, bound.fd);
  if (rc != 0) ::close(bound.fd);  // not the handle's yet
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s.listener), 64, Impl::on_connection);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&s.listener), nullptr);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    uv_loop_close(&s.loop);
    throw ErrnoError(fmt::format("[metrics] listen '{}': cannot listen: {}", name, uv_strerror(rc)), -rc);  // libuv: -errno
  }
  s.port = address ? address->port : 0;
  uv_async_init(&s.loop, &s.stop_signal, Impl::on_stop);
  s.stop_signal.data = &s;
  s.bound = true;
}

void MetricsHttpServer::serve() {
  Impl& s = *impl_;
  if (!s.bound) throw std::logic_error("metrics endpoint served before it was bound");
  if (s.running) throw std::logic_error("metrics endpoint served twice");
  // A scraper that disconnects mid-response must not kill the daemon with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  const int rc =
      uv_thread_create(&s.thread, [](void* arg) {
        set_up_thread("whoisd-metrics");  // top -H and /proc tell it from the main thread
        uv_run(&static_cast<Impl*>(arg)->loop, UV_RUN_DEFAULT);
      }, &s);
  if (rc != 0) throw std::runtime_error(fmt::format("metrics endpoint: thread: {}", uv_strerror(rc)));
  s.running = true;
}

void MetricsHttpServer::start(const ListenAddress& listen) {
  bind(listen);
  serve();
}

void MetricsHttpServer::stop() {
  Impl& s = *impl_;
  if (!s.bound) return;
  s.bound = false;
  if (s.running) {
    s.running = false;
    uv_async_send(&s.stop_signal);
    uv_thread_join(&s.thread);
  } else {
    Impl::on_stop(&s.stop_signal);
    uv_run(&s.loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&s.loop);
}

std::uint16_t MetricsHttpServer::port() const { return impl_->port; }

}  // namespace whoisd
