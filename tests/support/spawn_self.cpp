#include "support/spawn_self.h"

#include <cerrno>
#include <string>

extern char** environ;

namespace whoisd::test {

pid_t spawn_self(const char* tag, const posix_spawn_file_actions_t& actions) {
  char self[] = "/proc/self/exe";
  std::string tag_arg = tag;
  char* const argv[] = {self, tag_arg.data(), nullptr};
  pid_t child = -1;
  if (const int error = ::posix_spawn(&child, self, &actions, nullptr, argv, environ); error != 0) {
    errno = error;
    return -1;
  }
  return child;
}

}  // namespace whoisd::test
