// What the process writes to standard error (whoisd's log lines) while one of these
// exists, kept in a file instead and handed back by text(): a test can then check
// that an event was logged. Include as "support/captured_stderr.h".
#pragma once

#include <string>

namespace whoisd::test {

class CapturedStderr {
 public:
  CapturedStderr();   // standard error goes to a private temporary file from here
  ~CapturedStderr();  // and back to where it went before
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  // Everything written to standard error since the constructor.
  std::string text() const;

 private:
  int saved_fd_ = -1;
  int file_fd_ = -1;
};

}  // namespace whoisd::test
