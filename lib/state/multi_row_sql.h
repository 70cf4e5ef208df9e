// Statements that write many rows at once: the query log's rows and counts, and the
// limiter state's fold into source_state.
//
// A statement's fixed cost (its cursors on the table and its indexes opened and closed,
// the VM halted and reset) was about a quarter of a query-log row's insert when each
// row had its own statement (callgrind, bench/README.md "Round 7"); with
// kRowsPerStatement rows to a statement it is paid once for all of them. What is left
// over, fewer than that, goes one row a statement.
//
// Such statements say OR FAIL, not the default ABORT: a statement of several rows that
// can abort half way keeps a statement journal (the pages it changes, to undo it
// alone), and past 64 KiB SQLite writes that journal to a temporary file: 2.7 extra
// pwrite() a row, which made 32 rows a statement cost more CPU than one (a statement of
// one row keeps no journal). FAIL stops the statement without undoing its earlier rows,
// which needs no journal; the callers run them in a transaction that a failure rolls
// back whole.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace whoisd {

inline constexpr std::size_t kRowsPerStatement = 32;

// "<head> VALUES (?, ..), (?, ..) <tail>": `rows` groups of `columns` parameters, the
// r-th row's c-th column being parameter r * columns + c (from 1).
std::string rows_sql(std::string_view head, int columns, std::size_t rows, std::string_view tail);

}  // namespace whoisd
