#include "common/thread_setup.h"

#include <pthread.h>
#include <sched.h>

namespace whoisd {

void name_this_thread(const char* name) noexcept { pthread_setname_np(pthread_self(), name); }

bool lower_this_thread_to_idle_priority() noexcept {
  sched_param param{};
  param.sched_priority = 0;
  return pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) == 0;
}

}  // namespace whoisd
