// Start-up time: one whois query tried again and again (every half millisecond) until a
// complete answer comes back, so that a script can start the daemon and learn when it
// first answered.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "answer_check.h"

namespace whoisd::bench {

struct ProbeResult {
  bool answered = false;
  AnswerKind kind = AnswerKind::other;
  std::uint64_t attempts = 0;
  std::uint64_t answered_realtime_ns = 0;  // CLOCK_REALTIME when the answer was complete
  std::string error;                       // the last failure, when not answered
};

// Sends `line` (CRLF included) from `source` (port 0) to `target` until an answer ends
// by the server's close, or `give_up_ms` pass.
ProbeResult probe_until_answer(const sockaddr_in& target, const sockaddr_in& source, const std::string& line,
                               std::uint64_t give_up_ms);

std::uint64_t realtime_ns();

}  // namespace whoisd::bench
