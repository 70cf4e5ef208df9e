// This test binary started again as a child that runs only its hidden test `tag` (what
// the parent must watch from outside: a crash, an abort, a write that fails), its
// descriptors set up by `actions`. Include as "support/spawn_self.h".
#pragma once

#include <spawn.h>
#include <sys/types.h>

namespace whoisd::test {

// The child's pid, or -1 with errno set when it could not be started.
pid_t spawn_self(const char* tag, const posix_spawn_file_actions_t& actions);

}  // namespace whoisd::test
