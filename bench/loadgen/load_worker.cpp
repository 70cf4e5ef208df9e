#include "load_worker.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace whoisd::bench {

namespace {
constexpr std::size_t kMaxAnswerBytes = 1 << 20;
constexpr std::size_t kMaxBacklog = 1 << 20;
constexpr std::uint64_t kRetryAfterSocketErrorMs = 1;

std::string printable(std::string_view text, std::size_t limit = 160) {
  std::string out;
  for (char ch : text.substr(0, limit)) {
    if (ch == '\r') out += "\\r";
    else if (ch == '\n') out += "\\n";
    else if (static_cast<unsigned char>(ch) < 0x20) out += '?';
    else out += ch;
  }
  if (text.size() > limit) out += "...";
  return out;
}
}  // namespace

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::socket: return "socket";
    case ErrorKind::connect: return "connect";
    case ErrorKind::reset: return "reset";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::incomplete: return "incomplete";
    case ErrorKind::oversized: return "oversized";
    case ErrorKind::mismatch: return "mismatch";
    case ErrorKind::limited: return "limited";
    case ErrorKind::refused: return "refused";
    case ErrorKind::overload: return "overload";
  }
  return "other";
}

void WorkerResult::merge(const WorkerResult& other) {
  latency.merge(other.latency);
  lag.merge(other.lag);
  completed += other.completed;
  resets_after_answer += other.resets_after_answer;
  measured += other.measured;
  for (std::size_t i = 0; i < answers.size(); ++i) answers[i] += other.answers[i];
  for (std::size_t i = 0; i < kErrorKinds; ++i) {
    errors[i] += other.errors[i];
    if (example[i].empty()) example[i] = other.example[i];
  }
  last_end_ns = std::max(last_end_ns, other.last_end_ns);
}

std::uint64_t WorkerResult::error_total() const {
  std::uint64_t total = 0;
  for (auto e : errors) total += e;
  return total;
}

struct LoadWorker::Client {
  LoadWorker* worker = nullptr;
  uv_tcp_t tcp{};
  uv_write_t write{};
  uv_timer_t timer{};
  State state = State::idle;
  const Query* query = nullptr;
  sockaddr_in source{};
  std::uint64_t intended_ns = 0;
  std::uint64_t started_ns = 0;
  std::string answer;
};

LoadWorker::LoadWorker(RunPlan& plan, std::size_t connections, double rate, std::uint64_t phase_ns) : plan_(plan) {
  if (connections == 0) throw std::invalid_argument("a worker needs at least one connection");
  if (uv_loop_init(&loop_) != 0) throw std::runtime_error("uv_loop_init failed");
  for (std::size_t i = 0; i < connections; ++i) {
    auto c = std::make_unique<Client>();
    c->worker = this;
    uv_timer_init(&loop_, &c->timer);
    c->timer.data = c.get();
    free_.push_back(c.get());
    clients_.push_back(std::move(c));
  }
  if (rate > 0) {
    interval_ns_ = 1e9 / rate;
    first_intended_ns_ = plan_.start_ns + phase_ns;
    schedule_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (schedule_fd_ < 0) throw std::runtime_error(std::string("timerfd_create: ") + std::strerror(errno));
    uv_poll_init(&loop_, &schedule_poll_, schedule_fd_);
    schedule_poll_.data = this;
  }
}

LoadWorker::~LoadWorker() {
  uv_loop_close(&loop_);
  if (schedule_fd_ >= 0) ::close(schedule_fd_);
}

void LoadWorker::run() {
  if (interval_ns_ > 0) {
    uv_poll_start(&schedule_poll_, UV_READABLE, on_schedule);
    arm_schedule_timer(first_intended_ns_);
  } else {
    // Closed loop: every client starts at once and restarts when its query ends.
    std::vector<Client*> starting;
    starting.swap(free_);
    for (Client* c : starting) {
      if (claim_query()) {
        launch(*c, uv_hrtime());
      } else {
        ++retired_;
      }
    }
    maybe_shut_down();
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
}

bool LoadWorker::claim_query() {
  if (plan_.end_ns != 0 && uv_hrtime() >= plan_.end_ns) return false;
  return plan_.remaining.fetch_sub(1, std::memory_order_relaxed) > 0;
}

void LoadWorker::launch(Client& c, std::uint64_t intended_ns) {
  const std::uint64_t sequence = plan_.next_sequence.fetch_add(1, std::memory_order_relaxed);
  c.query = &plan_.mix->pick(sequence);
  c.intended_ns = intended_ns;
  c.started_ns = uv_hrtime();
  c.answer.clear();
  ++busy_;
  if (interval_ns_ > 0 && intended_ns >= plan_.start_ns + plan_.warmup_ns) result_.lag.record(c.started_ns - intended_ns);

  // The socket is made here rather than by libuv so that it can be bound to a source
  // address with IP_BIND_ADDRESS_NO_PORT: the port is then chosen at connect() for the
  // whole 4-tuple, so each of many source addresses has its own ephemeral port range.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0 && plan_.sources->enabled()) {
    c.source = plan_.sources->address(sequence);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&c.source), sizeof c.source) != 0) err = errno;
  }
  if (err != 0) {
    if (fd >= 0) ::close(fd);
    retry_later(c, ErrorKind::socket, std::string("socket/bind: ") + std::strerror(err));
    return;
  }
  // connect() itself, and the query written right after it without waiting for the
  // socket to turn writable, as a blocking client (whois(1)) does: on loopback the
  // handshake completes inside connect(), so the send() succeeds at once, and the
  // generator saves a wake-up, an epoll_ctl and a getsockopt a query. Should the
  // handshake still be on its way, the write waits in libuv's queue until it is done
  // (a refused connect then fails the write, and is counted as a connect error).
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&plan_.target), sizeof plan_.target) != 0 &&
      errno != EINPROGRESS) {
    const int connect_errno = errno;
    ::close(fd);
    retry_later(c, ErrorKind::connect, std::string("connect: ") + std::strerror(connect_errno));
    return;
  }
  uv_tcp_init(&loop_, &c.tcp);
  c.tcp.data = &c;
  uv_tcp_open(&c.tcp, fd);
  c.state = State::querying;
  uv_timer_start(&c.timer, on_timer, plan_.timeout_ns / 1'000'000, 0);
  send_query(c);
}

// A query that failed before it had a libuv handle (no socket, no port, a connect()
// refused at once): counted, and the client tries again a little later instead of at
// once, since the cause (descriptors, ports, a server not listening) needs time.
void LoadWorker::retry_later(Client& c, ErrorKind kind, const std::string& detail) {
  note_error(kind, c, detail);
  ++result_.completed;
  c.state = State::cooling;
  uv_timer_start(&c.timer, on_timer, kRetryAfterSocketErrorMs, 0);
}

// Errors of a write on a socket whose handshake has not completed are the connect's.
ErrorKind LoadWorker::write_error_kind(int status) {
  switch (status) {
    case UV_ECONNREFUSED:
    case UV_ETIMEDOUT:
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH:
    case UV_EADDRNOTAVAIL: return ErrorKind::connect;
    default: return ErrorKind::reset;
  }
}

void LoadWorker::send_query(Client& c) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(c.query->line.data()), static_cast<unsigned>(c.query->line.size()));
  c.write.data = &c;
  // The line is small: try to send it now and skip the write request's round trip.
  const int sent = uv_try_write(reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1);
  if (sent < static_cast<int>(buf.len)) {
    if (sent > 0) {
      buf.base += sent;
      buf.len -= static_cast<unsigned>(sent);
    }
    if (sent >= 0 || sent == UV_EAGAIN) {
      uv_write(&c.write, reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1, on_write);
    } else {
      const ErrorKind kind = write_error_kind(sent);
      note_error(kind, c, std::string("write: ") + uv_strerror(sent));
      end_query(c, &kind);
      return;
    }
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), on_alloc, on_read);
}

void LoadWorker::on_write(uv_write_t* req, int status) {
  auto& c = *static_cast<Client*>(req->data);
  if (status == 0 || c.state != State::querying) return;
  const ErrorKind kind = write_error_kind(status);
  c.worker->note_error(kind, c, std::string("write: ") + uv_strerror(status));
  c.worker->end_query(c, &kind);
}

void LoadWorker::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto& c = *static_cast<Client*>(handle->data);
  *buf = uv_buf_init(c.worker->read_buffer_.data(), static_cast<unsigned>(c.worker->read_buffer_.size()));
}

void LoadWorker::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto& c = *static_cast<Client*>(stream->data);
  if (c.state != State::querying) return;
  LoadWorker& w = *c.worker;
  if (nread > 0) {
    c.answer.append(buf->base, static_cast<std::size_t>(nread));
    if (c.answer.size() > kMaxAnswerBytes) {
      const ErrorKind kind = ErrorKind::oversized;
      w.note_error(kind, c, "answer longer than 1 MiB");
      w.end_query(c, &kind);
    }
    return;
  }
  if (nread == 0) return;
  if (nread == UV_ECONNRESET && w.plan_.expect == Expectation::any && answer_is_complete(c.answer)) {
    // nginx's stream `return` never reads the query: when the query is already in its
    // receive buffer at close, the kernel sends RST instead of FIN. The answer arrived
    // whole, which is all a reference server is judged on; whoisd is not let off this way.
    ++w.result_.resets_after_answer;
    nread = UV_EOF;
  }
  if (nread != UV_EOF) {
    const ErrorKind kind = ErrorKind::reset;
    w.note_error(kind, c, std::string("read: ") + uv_strerror(static_cast<int>(nread)) + " after " +
                              std::to_string(c.answer.size()) + " bytes: " + printable(c.answer));
    w.end_query(c, &kind);
    return;
  }
  // The server closed: judge the whole answer.
  std::optional<ErrorKind> error;
  const AnswerKind kind = classify_answer(c.answer);
  if (!answer_is_complete(c.answer)) {
    error = ErrorKind::incomplete;
  } else {
    ++w.result_.answers[static_cast<std::size_t>(kind)];
    if (kind == AnswerKind::too_many_connections) {
      error = ErrorKind::refused;
    } else {
      switch (w.plan_.expect) {
        case Expectation::per_query:
          if (kind == AnswerKind::limit) {
            if (!w.plan_.allow_limit) error = ErrorKind::limited;
          } else if (kind != c.query->expected) {
            error = ErrorKind::mismatch;
          }
          break;
        case Expectation::limit:
          if (kind != AnswerKind::limit) error = ErrorKind::mismatch;
          break;
        case Expectation::any: break;
      }
    }
  }
  if (error) {
    w.note_error(*error, c,
                 std::string("expected ") + to_string(w.plan_.expect == Expectation::limit ? AnswerKind::limit
                                                                                             : c.query->expected) +
                     ", got " + to_string(kind) + ": " + printable(c.answer));
  }
  w.end_query(c, error ? &*error : nullptr);
}

void LoadWorker::on_timer(uv_timer_t* timer) {
  auto& c = *static_cast<Client*>(timer->data);
  LoadWorker& w = *c.worker;
  if (c.state == State::cooling) {
    --w.busy_;
    c.state = State::idle;
    w.client_free(c);
    return;
  }
  if (c.state != State::querying) return;
  const ErrorKind kind = ErrorKind::timeout;
  w.note_error(kind, c, "no close after " + std::to_string(w.plan_.timeout_ns / 1'000'000) + " ms, " +
                            std::to_string(c.answer.size()) + " bytes read");
  w.end_query(c, &kind);
}

void LoadWorker::end_query(Client& c, const ErrorKind* error) {
  const std::uint64_t now = uv_hrtime();
  c.state = State::closing;
  uv_timer_stop(&c.timer);
  ++result_.completed;
  result_.last_end_ns = std::max(result_.last_end_ns, now);
  if (c.intended_ns >= plan_.start_ns + plan_.warmup_ns) {
    ++result_.measured;
    if (!error) result_.latency.record(now - c.intended_ns);
  }
  auto* handle = reinterpret_cast<uv_handle_t*>(&c.tcp);
  // SO_LINGER 0 (an RST instead of a FIN) once the answer is in: the server, which closed
  // first, then keeps no TIME_WAIT socket, so a long run does not run out of 4-tuples.
  // A real whois client closes normally; this only changes what is left behind.
  if (!plan_.linger_zero || uv_tcp_close_reset(&c.tcp, on_close) != 0) {
    if (!uv_is_closing(handle)) uv_close(handle, on_close);
  }
}

void LoadWorker::on_close(uv_handle_t* handle) {
  auto& c = *static_cast<Client*>(handle->data);
  LoadWorker& w = *c.worker;
  --w.busy_;
  c.state = State::idle;
  w.client_free(c);
}

void LoadWorker::client_free(Client& c) {
  if (interval_ns_ > 0) {
    if (!backlog_.empty()) {
      const std::uint64_t intended = backlog_.front();
      backlog_.pop_front();
      launch(c, intended);
      return;
    }
    free_.push_back(&c);
    maybe_shut_down();
    return;
  }
  if (claim_query()) {
    launch(c, uv_hrtime());
  } else {
    ++retired_;
    maybe_shut_down();
  }
}

void LoadWorker::schedule_due() {
  const std::uint64_t now = uv_hrtime();
  std::uint64_t next = first_intended_ns_ + static_cast<std::uint64_t>(static_cast<double>(issued_) * interval_ns_);
  while (!schedule_done_ && next <= now) {
    if ((plan_.end_ns != 0 && next >= plan_.end_ns) ||
        plan_.remaining.fetch_sub(1, std::memory_order_relaxed) <= 0) {
      schedule_done_ = true;
      break;
    }
    if (!free_.empty()) {
      Client* c = free_.back();
      free_.pop_back();
      launch(*c, next);
    } else if (backlog_.size() < kMaxBacklog) {
      backlog_.push_back(next);
    } else {
      ++result_.errors[static_cast<std::size_t>(ErrorKind::overload)];
    }
    ++issued_;
    next = first_intended_ns_ + static_cast<std::uint64_t>(static_cast<double>(issued_) * interval_ns_);
  }
  if (schedule_done_) {
    uv_poll_stop(&schedule_poll_);
    maybe_shut_down();
  } else {
    arm_schedule_timer(next);
  }
}

void LoadWorker::arm_schedule_timer(std::uint64_t at_ns) {
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(at_ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(at_ns % 1'000'000'000);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  // uv_hrtime() reads CLOCK_MONOTONIC, the clock of this timerfd.
  timerfd_settime(schedule_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void LoadWorker::on_schedule(uv_poll_t* poll, int, int) {
  auto& w = *static_cast<LoadWorker*>(poll->data);
  // One read takes every expiration so far (a second would only fail with EAGAIN); one
  // that comes after it leaves the timerfd readable, and the loop calls again.
  std::uint64_t expirations;
  (void)!::read(w.schedule_fd_, &expirations, sizeof expirations);
  w.schedule_due();
}

void LoadWorker::note_error(ErrorKind kind, const Client& c, std::string_view detail) {
  const auto i = static_cast<std::size_t>(kind);
  ++result_.errors[i];
  if (result_.example[i].empty()) {
    char source[INET_ADDRSTRLEN] = "127.0.0.1";
    if (plan_.sources->enabled()) inet_ntop(AF_INET, &c.source.sin_addr, source, sizeof source);
    result_.example[i] = "query '" + printable(c.query ? std::string_view(c.query->line) : "") + "' from " + source +
                         ": " + std::string(detail);
  }
}

void LoadWorker::maybe_shut_down() {
  if (shut_down_) return;
  const bool done = interval_ns_ > 0 ? (schedule_done_ && backlog_.empty() && busy_ == 0) : retired_ == clients_.size();
  if (!done) return;
  shut_down_ = true;
  for (auto& c : clients_) uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), nullptr);
  if (interval_ns_ > 0) uv_close(reinterpret_cast<uv_handle_t*>(&schedule_poll_), nullptr);
}

}  // namespace whoisd::bench
