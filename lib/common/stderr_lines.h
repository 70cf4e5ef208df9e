// Writing finished log lines to standard error, and saying what a failed write lost.
//
// Why it says: a write to standard error fails for good when its reader is gone (EPIPE:
// journald's stream or a pipe's reader closed) or its disk is full or failing (ENOSPC,
// EIO: standard error redirected to a file), and the lines that did not leave are gone.
// The caller counts them (whoisd_log_lines_dropped_total), and a line cut by a partial
// write before the error must not have the next line glued to its tail once writing
// works again: the next write first ends it.
#pragma once

#include <cstddef>
#include <string_view>

namespace whoisd::log {

struct LinesWritten {
  std::size_t lost = 0;  // lines not written whole: the one a partial write cut, and all after it
  bool cut = false;      // the output now ends inside a line: the next write first ends it
  int error = 0;         // errno of the write that failed, or 0
};

// Writes `lines` (whole lines, each ending in '\n') to standard error, first a '\n' if
// `after_cut` (the previous write left a cut line). Interrupted and would-block writes
// (a non-blocking standard error) are retried, waiting for it to be writable; any other
// error gives up the rest. Blocks while standard error does.
LinesWritten write_lines_to_stderr(std::string_view lines, bool after_cut);

}  // namespace whoisd::log
