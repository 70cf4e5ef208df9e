#include "server/event_loop.h"

#include <unistd.h>

#include <stdexcept>
#include <string>

#include "common/log.h"
#include "common/thread_setup.h"
#include "server/connection.h"
#include "server/listener.h"

namespace whoisd {
namespace {
constexpr int kListenBacklog = 4096;  // the kernel caps it at net.core.somaxconn
constexpr std::size_t kReadBufferBytes = 16 * 1024;
}  // namespace

EventLoop::EventLoop(unsigned index, ServerContext& context, std::shared_ptr<const LiveSettings> settings)
    : index_(index), context_(context), settings_(std::move(settings)), read_buffer_(kReadBufferBytes) {
  int rc = uv_loop_init(&loop_);
  if (rc != 0) throw std::runtime_error(std::string("event loop: uv_loop_init: ") + uv_strerror(rc));
  uv_async_init(&loop_, &wake_, on_wake);
  wake_.data = this;
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &heartbeat_timer_);
  heartbeat_timer_.data = this;
}

EventLoop::~EventLoop() {
  if (thread_.joinable()) {
    begin_stop(std::chrono::milliseconds(0));
    thread_.join();
  }
  if (!started_) {
    // Never ran: close what the constructor and add_listener() opened, and run the
    // loop once so that libuv releases them.
    close_listeners();
    for (auto& [fd, name] : pending_fds_) ::close(fd);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_timer_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop_);
}

void EventLoop::add_listener(int fd, std::string name) { pending_fds_.emplace_back(fd, std::move(name)); }

void EventLoop::beat_every(std::chrono::milliseconds period) { heartbeat_period_ = period; }

std::string EventLoop::name() const { return "whoisd-loop" + std::to_string(index_); }

void EventLoop::start() {
  for (auto it = pending_fds_.begin(); it != pending_fds_.end();) {
    listeners_.push_back(std::make_unique<Listener>(*this, it->first, std::move(it->second)));
    it = pending_fds_.erase(it);  // the listener owns the descriptor now
    int rc = listeners_.back()->listen(kListenBacklog);
    if (rc != 0) throw std::runtime_error("listen on " + listeners_.back()->name() + ": " + uv_strerror(rc));
    listeners_.back()->limit_unacknowledged(settings_->write_timeout);
  }
  if (heartbeat_period_.count() > 0) {
    const auto period = static_cast<std::uint64_t>(heartbeat_period_.count());
    uv_timer_start(&heartbeat_timer_, on_heartbeat, period, period);
  }
  started_ = true;
  thread_ = std::thread([this] {
    set_up_thread(name().c_str());
    uv_run(&loop_, UV_RUN_DEFAULT);
    // Every handle is closed once the loop returns; nothing is left to run.
  });
}

void EventLoop::update_settings(std::shared_ptr<const LiveSettings> settings) {
  {
    std::lock_guard lock(mutex_);
    pending_settings_ = std::move(settings);
  }
  uv_async_send(&wake_);
}

void EventLoop::begin_stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mutex_);
    if (stop_requested_) return;
    stop_requested_ = true;
    stop_deadline_ = deadline;
  }
  uv_async_send(&wake_);
}

void EventLoop::join() {
  if (thread_.joinable()) thread_.join();
}

void EventLoop::on_wake(uv_async_t* async) { static_cast<EventLoop*>(async->data)->handle_wake(); }

void EventLoop::handle_wake() {
  std::shared_ptr<const LiveSettings> settings;
  bool stop = false;
  std::chrono::milliseconds deadline{0};
  {
    std::lock_guard lock(mutex_);
    settings = std::move(pending_settings_);
    pending_settings_.reset();
    stop = stop_requested_;
    deadline = stop_deadline_;
  }
  if (settings) {
    settings_ = std::move(settings);
    if (!stopping_)
      for (auto& l : listeners_) l->limit_unacknowledged(settings_->write_timeout);  // a reload may change it
  }
  if (stop && !stopping_) {
    stopping_ = true;
    // What the kernel queued is taken before the sockets close, which would reset it:
    // those clients connected before the stop and get their answer in the drain.
    for (auto& l : listeners_) l->accept_queued();
    close_listeners();
    for (ClientConnection* c = connections_; c;) {
      ClientConnection* next = c->next;  // server_stopping() may close and unlink c
      c->server_stopping();
      c = next;
    }
    uv_timer_start(&drain_timer_, on_drain_deadline, static_cast<std::uint64_t>(deadline.count()), 0);
    finish_if_drained();
  }
}

void EventLoop::on_drain_deadline(uv_timer_t* timer) {
  auto* self = static_cast<EventLoop*>(timer->data);
  if (self->open_) log::warn("drain_deadline").kv("loop", self->index_).kv("closed_connections", self->open_);
  for (ClientConnection* c = self->connections_; c;) {
    ClientConnection* next = c->next;
    c->force_close();
    c = next;
  }
  self->finish_if_drained();
}

void EventLoop::on_heartbeat(uv_timer_t* timer) {
  static_cast<EventLoop*>(timer->data)->heartbeats_.fetch_add(1, std::memory_order_relaxed);
}

void EventLoop::close_listeners() {
  for (auto& l : listeners_) l->close();
}

void EventLoop::finish_if_drained() {
  if (!stopping_ || finished_ || open_ != 0) return;
  finished_ = true;
  uv_timer_stop(&drain_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
}

void EventLoop::attach(ClientConnection* c) {
  c->prev = nullptr;
  c->next = connections_;
  if (connections_) connections_->prev = c;
  connections_ = c;
  ++open_;
}

void EventLoop::detach(ClientConnection* c) {
  if (c->prev) c->prev->next = c->next;
  else connections_ = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  --open_;
  finish_if_drained();
}

bool EventLoop::may_warn(std::uint64_t* suppressed) {
  std::uint64_t now = uv_now(&loop_);
  if (last_warning_ms_ != 0 && now - last_warning_ms_ < 1000) {
    ++warnings_suppressed_;
    return false;
  }
  last_warning_ms_ = now == 0 ? 1 : now;
  *suppressed = warnings_suppressed_;
  warnings_suppressed_ = 0;
  return true;
}

uv_buf_t EventLoop::read_buffer() { return uv_buf_init(read_buffer_.data(), static_cast<unsigned>(read_buffer_.size())); }

}  // namespace whoisd
