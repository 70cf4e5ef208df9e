// One event loop: a thread running its own libuv loop with its own listening
// handles, accepting and serving connections from start to close. The daemon runs
// several (one per core by default); the kernel spreads new connections over them
// (SO_REUSEPORT sockets, or one shared socket systemd passed). A loop never blocks
// longer than one snapshot lookup: no disk writes, no sleeping, no locks held for
// long (the limiter and the query log take short, sharded locks).
//
// Other threads talk to a loop only through update_settings() and begin_stop(),
// which hand the request over under a mutex and wake the loop with uv_async, and read
// its heartbeat counter (an atomic) to see that it still runs its callbacks.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/live_settings.h"
#include "server/server_context.h"

namespace whoisd {

class ClientConnection;
class Listener;

class EventLoop {
 public:
  EventLoop(unsigned index, ServerContext& context, std::shared_ptr<const LiveSettings> settings);
  ~EventLoop();  // joins the thread if still running
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Before start(): takes over a bound TCP socket (closed with the loop). `name` is
  // its address for log lines.
  void add_listener(int fd, std::string name);
  // Before start(): from then on a timer of the loop bumps heartbeats() every `period`
  // (for the systemd watchdog, service_watchdog.h). Off unless called.
  void beat_every(std::chrono::milliseconds period);
  // Starts listening on every socket and runs the loop on a new thread. Throws
  // std::runtime_error naming the address when a socket cannot listen.
  void start();
  // Any thread: the settings for connections accepted from now on.
  void update_settings(std::shared_ptr<const LiveSettings> settings);
  // Any thread: stop accepting; connections in flight finish (each bounded by its
  // timeouts, the whole by `deadline`, after which the rest are closed); then the
  // thread ends.
  void begin_stop(std::chrono::milliseconds deadline);
  void join();
  // Any thread: how many times the heartbeat timer has run. It stops moving when the
  // loop is wedged (a callback that does not return), since the timer runs between
  // callbacks on the loop's own thread.
  std::uint64_t heartbeats() const { return heartbeats_.load(std::memory_order_relaxed); }
  // "whoisd-loop0": the thread's name (top -H), and the loop's in log lines.
  std::string name() const;

  // ---- for ClientConnection, on the loop thread ----
  uv_loop_t* uv() { return &loop_; }
  unsigned index() const { return index_; }
  const std::shared_ptr<const LiveSettings>& settings() const { return settings_; }
  ServerContext& context() { return context_; }
  bool stopping() const { return stopping_; }
  void attach(ClientConnection* c);
  void detach(ClientConnection* c);
  uv_buf_t read_buffer();
  // Warnings caused by clients (refused PROXY headers, failed accepts) are logged at
  // most once a second per loop, with the number left out since, so that a flood of
  // bad connections cannot flood the journal. Returns false: skip this one.
  bool may_warn(std::uint64_t* suppressed);

 private:
  static void on_wake(uv_async_t* async);
  static void on_drain_deadline(uv_timer_t* timer);
  static void on_heartbeat(uv_timer_t* timer);
  void handle_wake();
  void close_listeners();
  void finish_if_drained();

  unsigned index_;
  ServerContext& context_;
  std::shared_ptr<const LiveSettings> settings_;
  uv_loop_t loop_{};
  uv_async_t wake_{};
  uv_timer_t drain_timer_{};
  uv_timer_t heartbeat_timer_{};
  std::chrono::milliseconds heartbeat_period_{0};  // 0: no heartbeat
  std::atomic<std::uint64_t> heartbeats_{0};
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::pair<int, std::string>> pending_fds_;
  std::thread thread_;
  bool started_ = false;
  bool stopping_ = false;   // loop thread: no more accepting
  bool finished_ = false;   // loop thread: closing its own handles
  ClientConnection* connections_ = nullptr;  // intrusive list of open connections
  std::size_t open_ = 0;
  std::vector<char> read_buffer_;
  std::uint64_t last_warning_ms_ = 0;
  std::uint64_t warnings_suppressed_ = 0;

  std::mutex mutex_;  // guards the requests below
  std::shared_ptr<const LiveSettings> pending_settings_;
  bool stop_requested_ = false;
  std::chrono::milliseconds stop_deadline_{0};
};

}  // namespace whoisd
