// One event loop of the load generator: a set of whois clients, each doing what a whois
// command does (connect, send one line, read until the server closes), over and over.
// Closed loop: every client starts its next query as soon as the last one ends.
// Open loop: queries start at fixed intended times (rate); a query that cannot start on
// time because every client is busy waits, and its answer time still counts from the
// intended time, so a slow server cannot hide its stalls (no coordinated omission).
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "answer_check.h"
#include "latency_histogram.h"
#include "query_mix.h"
#include "source_addresses.h"

namespace whoisd::bench {

enum class Expectation {
  per_query,  // each answer of the kind its query asks for (found / no match / invalid)
  limit,      // every answer a limit or suspension answer
  any,        // only complete (a reference server answering one fixed text)
};

enum class ErrorKind { socket, connect, reset, timeout, incomplete, oversized, mismatch, limited, refused, overload };
inline constexpr std::size_t kErrorKinds = 10;
const char* to_string(ErrorKind kind);

// What every worker shares; the atomics are the only state written during the run.
struct RunPlan {
  sockaddr_in target{};
  const QueryMix* mix = nullptr;
  const SourceAddresses* sources = nullptr;
  Expectation expect = Expectation::per_query;
  bool allow_limit = false;   // per_query: count limit answers as answers, not errors
  bool linger_zero = true;    // close with RST: no TIME_WAIT left on loopback
  std::uint64_t start_ns = 0;   // uv_hrtime() clock
  std::uint64_t warmup_ns = 0;  // queries meant to start before start + warmup are not measured
  std::uint64_t end_ns = 0;     // no query starts at or after it; 0 = no end (use `remaining`)
  std::uint64_t timeout_ns = 10'000'000'000;
  std::atomic<std::uint64_t> next_sequence{0};
  std::atomic<std::int64_t> remaining{INT64_MAX};  // queries left to start
};

struct WorkerResult {
  LatencyHistogram latency;  // measured, correct answers: intended start -> server's close
  LatencyHistogram lag;      // open loop: intended start -> actual start
  std::uint64_t completed = 0;  // every finished query, measured or not, with or without error
  std::uint64_t measured = 0;   // finished queries meant to start after the warm-up
  std::array<std::uint64_t, 6> answers{};  // by AnswerKind, complete answers only
  std::array<std::uint64_t, kErrorKinds> errors{};
  std::array<std::string, kErrorKinds> example{};  // the first of each error, for diagnosis
  std::uint64_t resets_after_answer = 0;  // expect any: whole answer, then RST instead of FIN
  std::uint64_t last_end_ns = 0;
  void merge(const WorkerResult& other);
  std::uint64_t error_total() const;
};

class LoadWorker {
 public:
  // rate 0: closed loop with `connections` clients; otherwise open loop at `rate` queries a
  // second with at most `connections` in flight, the first meant to start at start + phase.
  LoadWorker(RunPlan& plan, std::size_t connections, double rate, std::uint64_t phase_ns);
  ~LoadWorker();
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;

  void run();  // runs the loop until the plan is done; call on the worker's own thread
  const WorkerResult& result() const { return result_; }

 private:
  struct Client;
  enum class State { idle, querying, closing, cooling };

  void launch(Client& c, std::uint64_t intended_ns);
  void send_query(Client& c);  // the line, then reading the answer
  void retry_later(Client& c, ErrorKind kind, const std::string& detail);
  static ErrorKind write_error_kind(int status);
  void end_query(Client& c, const ErrorKind* error);
  void client_free(Client& c);  // the connection is closed: start the next query or retire
  void note_error(ErrorKind kind, const Client& c, std::string_view detail);
  bool claim_query();
  void schedule_due();  // open loop: start (or queue) every query whose time has come
  void arm_schedule_timer(std::uint64_t at_ns);
  void maybe_shut_down();

  static void on_write(uv_write_t* req, int status);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_timer(uv_timer_t* timer);
  static void on_close(uv_handle_t* handle);
  static void on_schedule(uv_poll_t* poll, int status, int events);

  RunPlan& plan_;
  double interval_ns_ = 0;  // open loop
  std::uint64_t first_intended_ns_ = 0;
  std::uint64_t issued_ = 0;
  bool schedule_done_ = false;
  bool shut_down_ = false;
  uv_loop_t loop_{};
  uv_poll_t schedule_poll_{};
  int schedule_fd_ = -1;  // timerfd: microsecond start times without spinning
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<Client*> free_;
  std::deque<std::uint64_t> backlog_;  // open loop: intended start times still waiting for a client
  std::size_t busy_ = 0;               // clients not idle
  std::size_t retired_ = 0;            // closed loop: clients done for good
  std::array<char, 65536> read_buffer_{};  // shared: libuv calls alloc and read back to back
  WorkerResult result_;
};

}  // namespace whoisd::bench
