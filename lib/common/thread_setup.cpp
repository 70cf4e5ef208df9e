#include "common/thread_setup.h"

#include <pthread.h>
#include <sched.h>

#include "common/fatal_signal.h"
#include "common/log.h"

namespace whoisd {

void set_up_thread(const char* name) noexcept {
  pthread_setname_np(pthread_self(), name);
  fatal_signal::use_alternate_stack();
}

void set_up_pool_thread() noexcept { fatal_signal::use_alternate_stack(); }

bool lower_this_thread_to_idle_priority() noexcept {
  sched_param param{};
  param.sched_priority = 0;
  return pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) == 0;
}

void set_up_writer_thread(const char* name, bool idle_priority, std::string_view refused_event) {
  set_up_thread(name);
  if (idle_priority && !lower_this_thread_to_idle_priority())
    log::warn(refused_event).kv("thread", name).kv("error", "SCHED_IDLE refused: the thread runs at normal priority");
}

}  // namespace whoisd
