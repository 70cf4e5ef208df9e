#include "state/multi_row_sql.h"

namespace whoisd {

std::string rows_sql(std::string_view head, int columns, std::size_t rows, std::string_view tail) {
  std::string group = "(?";
  for (int c = 1; c < columns; ++c) group += ", ?";
  group += ")";
  std::string sql(head);
  sql += " VALUES ";
  for (std::size_t r = 0; r < rows; ++r) {
    if (r != 0) sql += ", ";
    sql += group;
  }
  sql += tail;
  return sql;
}

}  // namespace whoisd
